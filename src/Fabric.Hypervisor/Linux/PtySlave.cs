using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Hypervisor.Linux;

/// <summary>
/// The slave side of a pseudo-terminal whose master another process holds (QEMU's <c>-chardev pty</c>). It is opened
/// without following a link and without becoming this process's controlling terminal (a hang-up must never signal the
/// driver), only under <c>/dev/pts</c>, only as a terminal that <c>owner</c> owns: the path comes from a confined QEMU,
/// which must not steer root's reads and writes to another file. It is non-blocking; waits use <c>poll</c>.
/// </summary>
internal sealed partial class PtySlave : IDisposable
{
    private readonly SafeFileHandle _handle;

    private PtySlave(SafeFileHandle handle, string path)
    {
        _handle = handle;
        Path = path;
    }

    public string Path { get; }

    public static PtySlave Open(string path, int owner)
    {
        if (!PtsPath().IsMatch(path))
        {
            throw new IOException($"'{path}' is not a pseudo-terminal under /dev/pts");
        }

        var fd = Native.open(path, Native.O_RDWR | Native.O_NOCTTY | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new SystemCallException("open", path, Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (Native.fstatx(handle, "", Native.AT_EMPTY_PATH, Native.STATX_BASIC_STATS, out var facts) != 0)
            {
                throw new SystemCallException("statx", path, Marshal.GetLastPInvokeError());
            }

            if ((facts.Mode & Native.S_IFMT) != Native.S_IFCHR || facts.Uid != (uint)owner)
            {
                throw new IOException($"'{path}' is not a terminal of uid {owner} (mode {facts.Mode:x}, uid {facts.Uid})");
            }

            return new PtySlave(handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads what is there, waiting up to <paramref name="timeoutMs"/> for something: the byte count, 0 when nothing came
    /// in time, or -1 once the master is gone (the other process closed it or ended).
    /// </summary>
    public unsafe int Read(Span<byte> buffer, int timeoutMs)
    {
        var ready = Poll(Native.POLLIN, timeoutMs);
        if (ready == 0)
        {
            return 0;
        }

        fixed (byte* bytes = buffer)
        {
            var count = Native.read(_handle, bytes, (nuint)buffer.Length);
            if (count > 0)
            {
                return (int)count;
            }

            var errno = count < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno is Native.EAGAIN or Native.EINTR)
            {
                return 0;
            }

            // read returns EIO (or 0) on a slave whose master has closed.
            return (ready & (Native.POLLHUP | Native.POLLERR)) != 0 || errno == Native.EIO || count == 0
                ? -1
                : throw new SystemCallException("read", Path, errno);
        }
    }

    /// <summary>Writes all of <paramref name="data"/>, waiting while the terminal's buffer is full, for <paramref name="timeout"/> at most.</summary>
    public unsafe void Write(ReadOnlySpan<byte> data, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!data.IsEmpty)
        {
            fixed (byte* bytes = data)
            {
                var count = Native.write(_handle, bytes, (nuint)data.Length);
                if (count > 0)
                {
                    data = data[(int)count..];
                    continue;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (count < 0 && errno is not (Native.EAGAIN or Native.EINTR))
                {
                    throw new SystemCallException("write", Path, errno);
                }
            }

            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                throw new TimeoutException($"{Path} took no more input for {timeout.TotalSeconds:0.#} s ({data.Length} bytes left)");
            }

            if ((Poll(Native.POLLOUT, (int)Math.Min(left, 100)) & (Native.POLLHUP | Native.POLLERR)) != 0)
            {
                throw new IOException($"{Path} was hung up");
            }
        }
    }

    public void Dispose() => _handle.Dispose();

    /// <returns>The events that happened, 0 when none did in time.</returns>
    private int Poll(short events, int timeoutMs)
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            var poll = new Native.PollFd { Fd = (int)_handle.DangerousGetHandle(), Events = events };
            var result = Native.poll(ref poll, 1, timeoutMs);
            if (result < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                return errno == Native.EINTR ? 0 : throw new SystemCallException("poll", Path, errno);
            }

            return result == 0 ? 0 : poll.Revents;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    [GeneratedRegex("^/dev/pts/[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex PtsPath();
}
