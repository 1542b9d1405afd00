using System.Runtime.InteropServices;

namespace Fabric.Hypervisor.Linux;

/// <summary>The few libc calls .NET does not offer: signals to non-child processes, reaping, subreaping, ioctl.</summary>
internal static partial class Native
{
    public const int SIGHUP = 1;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int WNOHANG = 1;
    public const int PR_SET_CHILD_SUBREAPER = 36;
    public const nuint KVM_GET_API_VERSION = 0xAE00;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(SafeHandle fd, nuint request, nint argument);
}
