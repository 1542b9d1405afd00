using System.Net.Sockets;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// The driver's connection to a VM's serial console socket. QEMU accepts one client there; holding it gives the driver
/// live notice of output (the durable copy is QEMU's own console log) and the only way to type into the guest.
/// Output is read continuously, so the guest never blocks on a full socket.
/// </summary>
internal sealed class ConsoleLink : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _reader;
    private int _disposed;

    private ConsoleLink(Socket socket, AsyncPulse output)
    {
        _socket = socket;
        _reader = Task.Run(() => ReadLoopAsync(output));
    }

    public bool IsOpen => !_reader.IsCompleted;

    public static async Task<ConsoleLink> ConnectAsync(string socketPath, AsyncPulse output, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            return new ConsoleLink(socket, output);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
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

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        await _reader.ConfigureAwait(false);
        _socket.Dispose();
        _writeLock.Dispose();
    }

    private async Task ReadLoopAsync(AsyncPulse output)
    {
        var buffer = new byte[4096];
        try
        {
            while (await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
            {
                output.Fire();
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The VM exited or the link was disposed.
        }

        output.Fire();
    }
}
