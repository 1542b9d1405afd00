using System.Runtime.InteropServices;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Confinement;

/// <summary>Who owns what on the host, and who may pass through a directory: the file side of per-VM confinement.</summary>
public static class Ownership
{
    /// <summary>Owner uid, group and permission bits of <paramref name="path"/> itself (a symlink is not followed); null when absent.</summary>
    public static (int Uid, int Gid, UnixFileMode Mode)? Of(string path)
    {
        if (Native.statx(Native.AT_FDCWD, path, Native.AT_SYMLINK_NOFOLLOW, Native.STATX_BASIC_STATS, out var buffer) != 0)
        {
            return null;
        }

        return ((int)buffer.Uid, (int)buffer.Gid, (UnixFileMode)(buffer.Mode & 0xfff));
    }

    /// <summary>
    /// Refuses a file a VM may be given (it is chowned to the VM's uid) unless its path is plain: absolute and normalized
    /// (no <c>..</c>), no symlink in any component, a regular file with one link (a hard link could alias any file of the
    /// host), and not inside any of <paramref name="forbidden"/> (VMs' and the driver's own directories).
    /// </summary>
    public static void EnsurePlainFile(string path, string what, IEnumerable<string> forbidden)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(forbidden);
        if (!Path.IsPathFullyQualified(path) || Path.GetFullPath(path) != path || path.EndsWith('/'))
        {
            throw Refused(what, path, "is not a normalized absolute path");
        }

        if (forbidden.FirstOrDefault(f => path.StartsWith(f.TrimEnd('/') + "/", StringComparison.Ordinal)) is { } area)
        {
            throw Refused(what, path, $"is inside {area}, which holds VMs' and the driver's own files");
        }

        var current = "";
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            if (Native.statx(Native.AT_FDCWD, current, Native.AT_SYMLINK_NOFOLLOW, Native.STATX_BASIC_STATS, out var buffer) != 0)
            {
                throw Refused(what, path, $"cannot be examined ({current}: errno {Marshal.GetLastPInvokeError()})");
            }

            var kind = buffer.Mode & Native.S_IFMT;
            if (kind == Native.S_IFLNK)
            {
                throw Refused(what, path, $"goes through the symlink {current}");
            }

            if (current == path && (kind != Native.S_IFREG || buffer.Nlink != 1))
            {
                throw Refused(what, path, kind != Native.S_IFREG ? "is not a regular file" : $"has {buffer.Nlink} hard links");
            }
        }
    }

    /// <summary>Gives <paramref name="path"/> itself (never a symlink's target) to <paramref name="uid"/>:<paramref name="gid"/> with <paramref name="mode"/>.</summary>
    public static void Set(string path, int uid, int gid, UnixFileMode mode)
    {
        if (Native.lchown(path, uid, gid) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot give '{path}' to {uid}:{gid} (errno {errno})");
        }

        // lchown never follows a link; chmod would, so a link (which has no mode of its own) is left as it is.
        if (Of(path) is { } facts && File.ResolveLinkTarget(path, returnFinalTarget: false) is null && Native.chmod(path, (uint)mode) != 0)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot set mode {Convert.ToString((int)mode, 8)} on '{path}' (errno {Marshal.GetLastPInvokeError()}, owner {facts.Uid})");
        }
    }

    /// <summary>Creates <paramref name="directory"/> if needed and makes it root-owned, group <paramref name="gid"/>, mode 0710: members may pass, not list.</summary>
    public static void EnsureTraversalDirectory(string directory, int gid)
    {
        Directory.CreateDirectory(directory);
        Set(directory, 0, gid, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute);
    }

    /// <summary>
    /// Checks that a process of group <paramref name="gid"/> (and no other privilege) can reach <paramref name="path"/>:
    /// every directory from the root down to it must grant it search (x) permission. Throws naming the first one that does not.
    /// </summary>
    public static void EnsureTraversable(string path, int gid, string what)
    {
        var full = Path.GetFullPath(path);
        var current = "/";
        foreach (var part in full.Split('/', StringSplitOptions.RemoveEmptyEntries).Prepend(""))
        {
            current = part.Length == 0 ? "/" : Path.Combine(current, part);
            if (Of(current) is not { } facts)
            {
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"{what} '{full}': '{current}' does not exist");
            }

            if (!GroupCanSearch(facts.Gid, facts.Mode, gid))
            {
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                    $"{what} '{full}': QEMU processes (group {QemuGroup.Name}) cannot pass through '{current}' (owner {facts.Uid}:{facts.Gid}, mode {Convert.ToString((int)facts.Mode, 8)}); give it o+x, or group {QemuGroup.Name} with g+x");
            }
        }
    }

    private static HypervisorException Refused(string what, string path, string why) =>
        new(HypervisorErrorKind.InvalidRequest, $"{what} '{path}' {why}: refused before QEMU could open it");

    /// <summary>A directory a VM user (never its owner) may search: others have x, or its group is ours and has x.</summary>
    internal static bool GroupCanSearch(int directoryGid, UnixFileMode mode, int gid) =>
        mode.HasFlag(UnixFileMode.OtherExecute) || (directoryGid == gid && mode.HasFlag(UnixFileMode.GroupExecute));
}
