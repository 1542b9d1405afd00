using System.Globalization;

namespace Fabric.TestSupport;

/// <summary>Which named network namespace (<c>ip netns</c>, <c>/run/netns/NAME</c>) a process runs in.</summary>
public static class NetworkNamespaces
{
    private const string NamedRoot = "/run/netns/";

    /// <summary>
    /// The name of the network namespace <paramref name="pid"/> runs in, or null when that namespace has no name
    /// under /run/netns (the root namespace) or the process is gone.
    /// </summary>
    /// <remarks>
    /// <c>/proc/PID/ns/net</c> links to <c>net:[INODE]</c>; <c>ip netns add NAME</c> bind-mounts that namespace on
    /// /run/netns/NAME, and /proc/self/mountinfo shows such a mount with <c>net:[INODE]</c> as its root. Matching the
    /// two compares the namespaces' inodes without any native call.
    /// </remarks>
    public static string? Of(int pid)
    {
        var identity = Identity(pid);
        if (identity is null)
        {
            return null;
        }

        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // "ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS ... - TYPE SOURCE SUPER-OPTIONS"
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[3] == identity && fields[4].StartsWith(NamedRoot, StringComparison.Ordinal))
            {
                return fields[4][NamedRoot.Length..];
            }
        }

        return null;
    }

    /// <summary><c>net:[INODE]</c> of the namespace <paramref name="pid"/> runs in, or null when it is gone.</summary>
    public static string? Identity(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net").LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The names of the network namespaces that exist (<c>ip netns list</c>).</summary>
    public static IReadOnlyList<string> Names() =>
        Directory.Exists(NamedRoot) ? [.. Directory.EnumerateFiles(NamedRoot).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)] : [];
}
