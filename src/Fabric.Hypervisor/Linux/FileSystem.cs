using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Hypervisor.Linux;

/// <summary>What a directory entry is, read without following it (lstat semantics).</summary>
internal enum FileKind
{
    Regular,
    Directory,
    Symlink,
    Other,
}

/// <summary>One directory entry as <c>statx</c> reads it without following a symlink.</summary>
/// <param name="Kind">Its type.</param>
/// <param name="Size">Its length in bytes (<c>st_size</c>).</param>
/// <param name="AllocatedBytes">What it occupies on disk: <c>st_blocks</c> × 512.</param>
internal readonly record struct FileFacts(FileKind Kind, long Size, long AllocatedBytes);

/// <summary>A system call that failed, with its <c>errno</c>.</summary>
internal sealed class SystemCallException(string call, string path, int errno)
    : IOException($"{call} {path}: {Marshal.GetPInvokeErrorMessage(errno)}")
{
    public int Errno { get; } = errno;

    public string Path { get; } = path;

    /// <summary>The file system is full (<c>ENOSPC</c>) or the writer's quota is used up (<c>EDQUOT</c>).</summary>
    public bool IsNoSpace => Errno is Native.ENOSPC or Native.EDQUOT;
}

/// <summary>
/// File operations that never follow a symlink in the last component, and the measurements .NET does not give:
/// allocated blocks and the file system's room.
/// </summary>
internal static class FileSystem
{
    /// <summary>The entry at <paramref name="path"/> itself (a symlink is reported as one), or null when there is none.</summary>
    public static FileFacts? Lstat(string path)
    {
        if (Native.statx(Native.AT_FDCWD, path, Native.AT_SYMLINK_NOFOLLOW, Native.STATX_BASIC_STATS, out var buffer) == 0)
        {
            return Facts(buffer);
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno is Native.ENOENT or Native.ENOTDIR ? null : throw new SystemCallException("statx", path, errno);
    }

    public static FileFacts Fstat(SafeFileHandle handle, string path)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return Native.fstatx(handle, "", Native.AT_EMPTY_PATH, Native.STATX_BASIC_STATS, out var buffer) == 0
            ? Facts(buffer)
            : throw new SystemCallException("statx", path, Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Opens <paramref name="path"/> for reading; a symlink as its last component fails with <c>ELOOP</c>, and a FIFO does
    /// not block the open (<c>O_NONBLOCK</c>; the caller checks the type with <see cref="Fstat"/>).
    /// </summary>
    public static SafeFileHandle OpenNoFollow(string path, bool directory = false) =>
        Open(path, Native.O_RDONLY | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_CLOEXEC | (directory ? Native.O_DIRECTORY : 0), 0);

    /// <summary>Opens <paramref name="path"/> for reading and writing; a symlink as its last component fails with <c>ELOOP</c>.</summary>
    public static SafeFileHandle OpenNoFollowReadWrite(string path) =>
        Open(path, Native.O_RDWR | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);

    /// <summary>Creates a new empty file, mode 0600; fails with <c>EEXIST</c> when anything, a symlink included, has that name.</summary>
    public static void CreateExclusive(string path)
    {
        using var handle = Open(path, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0x180);
    }

    /// <summary>Creates a directory (its parent must exist) with mode 0700: only this process's user may enter it.</summary>
    public static void CreateOwnDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("pools live on Linux");
        }

        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Writes what the kernel still holds of the file (or directory) to disk; a symlink is refused.</summary>
    public static void Sync(string path, bool directory = false)
    {
        using var handle = OpenNoFollow(path, directory);
        if (Native.fsync(handle) != 0)
        {
            throw new SystemCallException("fsync", path, Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Renames <paramref name="from"/> to <paramref name="to"/>, failing with <c>EEXIST</c> when anything has that name
    /// (<c>renameat2</c> with <c>RENAME_NOREPLACE</c>; on a file system without it, <c>link</c> and <c>unlink</c>, which
    /// refuse an existing name too).
    /// </summary>
    public static void RenameNoReplace(string from, string to)
    {
        if (Native.renameat2(Native.AT_FDCWD, from, Native.AT_FDCWD, to, Native.RENAME_NOREPLACE) == 0)
        {
            return;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is not (Native.EINVAL or Native.ENOSYS))
        {
            throw new SystemCallException("rename", to, errno);
        }

        if (Native.link(from, to) != 0)
        {
            throw new SystemCallException("link", to, Marshal.GetLastPInvokeError());
        }

        File.Delete(from);
    }

    /// <summary>The size of the file system holding <paramref name="path"/>, and what an unprivileged writer may still use of it (statvfs).</summary>
    public static (long Total, long Free) Space(string path)
    {
        var drive = new DriveInfo(path);
        return (drive.TotalSize, drive.AvailableFreeSpace);
    }

    private static SafeFileHandle Open(string path, int flags, uint mode)
    {
        var fd = Native.open(path, flags, mode);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw new SystemCallException("open", path, Marshal.GetLastPInvokeError());
    }

    private static FileFacts Facts(Native.Statx buffer)
    {
        var kind = (buffer.Mode & Native.S_IFMT) switch
        {
            Native.S_IFREG => FileKind.Regular,
            Native.S_IFDIR => FileKind.Directory,
            Native.S_IFLNK => FileKind.Symlink,
            _ => FileKind.Other,
        };
        return new FileFacts(kind, (long)buffer.Size, (long)buffer.Blocks * 512);
    }
}
