using System.Globalization;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// Who holds a tap open, read from <c>/proc</c>: a descriptor of <c>/dev/net/tun</c> whose <c>fdinfo</c> says
/// <c>iff: TAP</c>, in a process of the host's network namespace. The carrier says the same thing more cheaply (a tap
/// has it while a process is attached), but only while the tap is up; this is for a tap found down.
/// </summary>
internal static class TapHolders
{
    private const string NamedNamespaces = "/run/netns/";

    /// <summary>True when a process in namespace <paramref name="namespaceIdentity"/> (any, when null) holds <paramref name="tap"/>.</summary>
    public static bool AnyHolds(string tap, string? namespaceIdentity)
    {
        var wanted = "iff:\t" + tap;
        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            try
            {
                foreach (var descriptor in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
                {
                    if (new FileInfo(descriptor).LinkTarget != "/dev/net/tun")
                    {
                        continue;
                    }

                    var info = File.ReadAllLines(Path.Combine(process, "fdinfo", Path.GetFileName(descriptor)));
                    if (info.Any(line => line == wanted)
                        && (namespaceIdentity is null || new FileInfo(Path.Combine(process, "ns", "net")).LinkTarget == namespaceIdentity))
                    {
                        return true;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process (or the descriptor) went away while we looked.
            }
        }

        return false;
    }

    /// <summary>
    /// <c>net:[INODE]</c> of the namespace: this process's own, or that of <c>/run/netns/NAME</c> (its bind mount's root
    /// in <c>/proc/self/mountinfo</c>); null when it cannot be told.
    /// </summary>
    public static string? NamespaceIdentity(string? name)
    {
        try
        {
            if (name is null)
            {
                return new FileInfo("/proc/self/ns/net").LinkTarget;
            }

            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                // "ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS ... - TYPE SOURCE SUPER-OPTIONS"
                var fields = line.Split(' ');
                if (fields.Length > 4 && fields[4] == NamedNamespaces + name && fields[3].StartsWith("net:[", StringComparison.Ordinal))
                {
                    return fields[3];
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}
