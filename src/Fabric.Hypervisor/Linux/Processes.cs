using System.Globalization;

namespace Fabric.Hypervisor.Linux;

/// <summary>
/// Facts about processes that are not our .NET children (QEMU daemonizes), read from <c>/proc</c>.
/// </summary>
public static class Processes
{
    /// <summary>True while <paramref name="pid"/> exists and has not exited (a zombie counts as exited).</summary>
    public static bool IsAlive(int pid)
    {
        var state = State(pid);
        return state is not null and not 'Z' and not 'X';
    }

    /// <summary>The process's arguments, or an empty array when it is gone.</summary>
    public static IReadOnlyList<string> Arguments(int pid)
    {
        try
        {
            var raw = File.ReadAllText($"/proc/{pid}/cmdline");
            return raw.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Resident memory of the process in bytes, or null when it is gone.</summary>
    public static long? ResidentBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    public static void Kill(int pid) => Native.kill(pid, Native.SIGKILL);

    /// <summary>Collects the exit status of a process we are the parent (or subreaper) of; harmless otherwise.</summary>
    public static void TryReap(int pid) => Native.waitpid(pid, out _, Native.WNOHANG);

    /// <summary>
    /// Makes this process the subreaper of its descendants, so a daemonized QEMU is re-parented to us and can be
    /// reaped when it exits, instead of lingering as a zombie under a PID 1 that does not reap.
    /// </summary>
    public static void BecomeSubreaper() => Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    private static char? State(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // "pid (comm) S ...": comm may itself contain spaces and parentheses.
            var close = stat.LastIndexOf(')');
            return close >= 0 && close + 2 < stat.Length ? stat[close + 2] : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
