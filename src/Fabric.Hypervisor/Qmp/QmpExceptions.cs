namespace Fabric.Hypervisor.Qmp;

/// <summary>Base of every QMP failure.</summary>
public class QmpException : Exception
{
    public QmpException(string message)
        : base(message)
    {
    }

    public QmpException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>QEMU answered a command with an error object.</summary>
public sealed class QmpCommandException : QmpException
{
    public QmpCommandException(string command, string errorClass, string description)
        : base($"QMP '{command}' failed: {errorClass}: {description}")
    {
        Command = command;
        ErrorClass = errorClass;
        Description = description;
    }

    public string Command { get; }

    public string ErrorClass { get; }

    public string Description { get; }
}

/// <summary>The QMP connection closed, usually because the QEMU process exited.</summary>
public sealed class QmpConnectionClosedException : QmpException
{
    public QmpConnectionClosedException(string message)
        : base(message)
    {
    }

    public QmpConnectionClosedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>QEMU did not answer a command in time.</summary>
public sealed class QmpTimeoutException : QmpException
{
    public QmpTimeoutException(string command, TimeSpan timeout)
        : base($"QMP '{command}' got no answer within {timeout.TotalSeconds:0.###} s")
    {
    }
}
