using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qmp;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// The driver's hold on a VM's serial console: the slave side of the pseudo-terminal QEMU made for it
/// (<c>-chardev pty</c>, found through <c>query-chardev</c>). Holding it gives the driver live notice of output (the
/// durable copy is QEMU's console log) and the way to type into the guest. Output is read continuously.
/// </summary>
/// <remarks>
/// Not a socket: QEMU 7.2 logs a console byte that its socket refuses (EAGAIN) as if it were lost, then retries and
/// logs it again, so a socket reader a few milliseconds late (a loaded host) doubled characters in the log. A terminal
/// buffers tens of KiB where a socket held a few hundred one-byte writes, and while no one holds the terminal QEMU logs
/// each byte once.
/// </remarks>
internal sealed class ConsoleLink : IAsyncDisposable
{
    /// <summary>How long typed input may wait for the guest to take it in (a paused guest takes nothing).</summary>
    private static readonly TimeSpan InputTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often the reader looks up from its wait, to notice that the link is closing.</summary>
    private const int ReadWaitMs = 200;

    private readonly PtySlave _terminal;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _reader;
    private int _disposed;

    private ConsoleLink(PtySlave terminal, AsyncPulse output)
    {
        _terminal = terminal;
        _reader = Task.Factory.StartNew(() => ReadLoop(output), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public bool IsOpen => !_reader.IsCompleted;

    /// <summary>Opens the terminal of QEMU's <c>console</c> character device, which must belong to <paramref name="owner"/> (QEMU's uid).</summary>
    public static async Task<ConsoleLink> ConnectAsync(QmpClient qmp, int owner, AsyncPulse output, CancellationToken cancellationToken)
    {
        var devices = await qmp.ExecuteAsync("query-chardev", cancellationToken: cancellationToken).ConfigureAwait(false);
        var filename = devices.EnumerateArray()
            .Where(device => device.GetProperty("label").GetString() == "console")
            .Select(device => device.GetProperty("filename").GetString())
            .FirstOrDefault();
        if (filename is null || !filename.StartsWith("pty:", StringComparison.Ordinal))
        {
            throw new IOException($"QEMU has no console terminal (query-chardev says '{filename ?? "no console"}')");
        }

        return new ConsoleLink(PtySlave.Open(filename["pty:".Length..], owner), output);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.Run(() => _terminal.Write(data.Span, InputTimeout), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Closes the link; safe to call more than once (the VM's exit and the driver's detach both do).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _closing.CancelAsync().ConfigureAwait(false);
        await _reader.ConfigureAwait(false);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        _terminal.Dispose();
        _writeLock.Dispose();
        _closing.Dispose();
    }

    private void ReadLoop(AsyncPulse output)
    {
        var buffer = new byte[4096];
        try
        {
            while (!_closing.IsCancellationRequested)
            {
                var read = _terminal.Read(buffer, ReadWaitMs);
                if (read < 0)
                {
                    break;
                }

                if (read > 0)
                {
                    output.Fire();
                }
            }
        }
        catch (IOException)
        {
            // The terminal failed under the reader; the link is closed, and the next input opens a new one.
        }

        output.Fire();
    }
}
