namespace Fabric.Hypervisor;

public enum HypervisorErrorKind
{
    /// <summary>The request is malformed (bad name, unknown image, too little memory for the image).</summary>
    InvalidRequest,

    /// <summary>No such VM on this machine.</summary>
    NotFound,

    /// <summary>The VM's process is in a state that forbids this (already running, not running).</summary>
    Conflict,

    /// <summary>The file system that would hold the result is full (nothing half-made is left).</summary>
    NoSpace,

    /// <summary>The hypervisor failed (QEMU would not start, a QMP command failed).</summary>
    Failed,
}

/// <summary>A driver failure with a kind the caller can map to its own error codes.</summary>
public sealed class HypervisorException : Exception
{
    public HypervisorException(HypervisorErrorKind kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    public HypervisorException(HypervisorErrorKind kind, string message, Exception innerException)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public HypervisorErrorKind Kind { get; }
}
