using System.Runtime.InteropServices;

namespace Fabric.Hypervisor.Linux;

/// <summary>The libc calls a pseudo-terminal needs: open without becoming its controlling process, poll, read, write.</summary>
internal static partial class Native
{
    public const int O_NOCTTY = 0x100;
    public const int S_IFCHR = 0x2000;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const short POLLIN = 0x001;
    public const short POLLOUT = 0x004;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(ref PollFd fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(SafeHandle fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(SafeHandle fd, byte* buffer, nuint count);
}
