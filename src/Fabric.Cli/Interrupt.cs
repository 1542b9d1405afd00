using System.Runtime.InteropServices;

namespace Fabric.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM as cancellation: the command's token is cancelled (its pending request with it) and the
/// exit code is 128 + the signal.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    /// <summary>How long a cancelled command may take to finish before the CLI exits anyway.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _cancellation;
    private readonly TaskCompletionSource _signalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private int _exitCode = ExitCodes.Interrupted;

    public Interrupt(CancellationToken outer)
    {
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        outer.Register(() => _signalled.TrySetResult());
    }

    public CancellationToken Token => _cancellation.Token;

    /// <summary>Completes when a signal (or the outer token) asks the command to stop.</summary>
    public Task Signalled => _signalled.Task;

    /// <summary>128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.</summary>
    public int ExitCode => Volatile.Read(ref _exitCode);

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _cancellation.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        Volatile.Write(ref _exitCode, context.Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted);
        _signalled.TrySetResult();
        try
        {
            _cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The signal arrived as the command finished.
        }
    }
}
