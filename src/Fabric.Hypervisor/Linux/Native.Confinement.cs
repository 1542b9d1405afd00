using System.Runtime.InteropServices;

namespace Fabric.Hypervisor.Linux;

/// <summary>The libc calls confinement needs: ownership without following links, and the tun driver's owner ioctl.</summary>
internal static partial class Native
{
    public const int O_RDWR = 2;
    public const int CLONE_NEWNET = 0x40000000;
    public const nuint TUNSETIFF = 0x400454ca;
    public const nuint TUNSETOWNER = 0x400454cc;
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lchown(string path, int owner, int group);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chmod(string path, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(SafeHandle fd, int nstype);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int ioctlPointer(SafeHandle fd, nuint request, void* argument);
}
