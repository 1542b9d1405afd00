using System.Net.Sockets;
using Fabric.Hypervisor.Confinement;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Carries a snapshot's migration stream between QEMU and its file over a UNIX socket in the VM's private run
/// directory. QEMU's seccomp sandbox forbids it to spawn (<c>spawn=deny</c>), so there is no <c>exec:</c> writer; and
/// the file is the driver's (root's), never opened by the VM's uid: the driver copies, QEMU only streams.
/// </summary>
internal static class SnapshotStream
{
    private const int BufferSize = 1 << 20;

    /// <summary>
    /// Listens on <paramref name="socketPath"/> (owned by <paramref name="uid"/>, so QEMU may connect) and copies what
    /// the first connection sends into <paramref name="file"/> until QEMU closes it. Returns once listening; the task
    /// ends with the copy.
    /// </summary>
    public static Task ReceiveAsync(string socketPath, int uid, int gid, string file, CancellationToken cancellationToken)
    {
        File.Delete(socketPath);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            Ownership.Set(socketPath, uid, gid, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(1);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return CopyAsync(listener, socketPath, file, cancellationToken);
    }

    /// <summary>Connects to QEMU's incoming socket (once it listens) and sends <paramref name="file"/> through it.</summary>
    public static async Task SendAsync(string socketPath, string file, Func<bool> alive, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && alive())
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
            }
        }

        await using (var network = new NetworkStream(socket, ownsSocket: false))
        await using (var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan))
        {
            await source.CopyToAsync(network, BufferSize, cancellationToken).ConfigureAwait(false);
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    private static async Task CopyAsync(Socket listener, string socketPath, string file, CancellationToken cancellationToken)
    {
        try
        {
            using var connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            await using var network = new NetworkStream(connection, ownsSocket: false);
            await using var target = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.Read, BufferSize);
            await network.CopyToAsync(target, BufferSize, cancellationToken).ConfigureAwait(false);
            await target.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            listener.Dispose();
            File.Delete(socketPath);
        }
    }
}
