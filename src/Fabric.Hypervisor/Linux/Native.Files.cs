using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Hypervisor.Linux;

/// <summary>
/// The file calls .NET does not offer: opening without following a symlink (<c>O_NOFOLLOW</c>), <c>statx</c> without
/// following one (the file type and the allocated blocks), <c>fsync</c> of a directory, and a rename that never
/// replaces (<c>RENAME_NOREPLACE</c>). Linux on 64-bit only, as the rest of the driver.
/// </summary>
internal static partial class Native
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const uint RENAME_NOREPLACE = 1;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFLNK = 0xA000;

    public const int EACCES = 13;
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ENOSYS = 38;
    public const int ELOOP = 40;
    public const int EDQUOT = 122;

    /// <summary>
    /// <c>open(2)</c>. It is variadic in C; glibc reads the mode only with <c>O_CREAT</c>, and on x86-64 and arm64 the
    /// fixed arguments are passed as for a plain function, so the mode is always given.
    /// </summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fstatx(SafeFileHandle fd, string empty, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int link(string oldpath, string newpath);

    /// <summary>The fields of <c>struct statx</c> (256 bytes, the same layout on every architecture) that the driver reads.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(0)]
        public uint Mask;

        [FieldOffset(16)]
        public uint Nlink;

        [FieldOffset(20)]
        public uint Uid;

        [FieldOffset(24)]
        public uint Gid;

        [FieldOffset(28)]
        public ushort Mode;

        [FieldOffset(40)]
        public ulong Size;

        /// <summary>Allocated 512-byte blocks (<c>st_blocks</c>), whatever the file system's block size.</summary>
        [FieldOffset(48)]
        public ulong Blocks;
    }
}
