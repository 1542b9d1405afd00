using System.Globalization;

namespace Fabric.Hypervisor.Linux;

/// <summary>
/// Facts about processes that are not our .NET children (QEMU daemonizes), read from <c>/proc</c>.
/// </summary>
public static class Processes
{
    /// <summary>The kernel keeps a process's command name in 16 bytes, terminator included.</summary>
    private const int MaxCommandName = 15;

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

    /// <summary>The real uid of the process, or null when it is gone.</summary>
    public static int? Uid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    return int.Parse(line["Uid:".Length..].Trim().Split('\t')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
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
    /// Collects the exit status of a process that has ended, and says how it ended ("exit code 1",
    /// "signal 9 (SIGKILL)"); null when it is not ours to reap. Waits up to <paramref name="timeout"/>, because a
    /// multi-threaded process shows as a zombie (its main thread has exited) before its other threads are gone, and
    /// only then can it be reaped. Leaves alone a child in our own session: that is one .NET's
    /// <see cref="System.Diagnostics.Process"/> started and waits for (see <see cref="ReapZombieChildren"/>).
    /// </summary>
    public static async Task<string?> ReapAsync(int pid, TimeSpan timeout)
    {
        if (ReadStat(pid) is { } stat && stat.ParentPid == Environment.ProcessId && stat.Session == OwnSession())
        {
            return null;
        }

        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var result = Native.waitpid(pid, out var status, Native.WNOHANG);
            if (result == pid)
            {
                var signal = status & 0x7f;
                return signal == 0
                    ? $"exit code {(status >> 8) & 0xff}"
                    : signal == Native.SIGKILL ? "signal 9 (SIGKILL)" : $"signal {signal}";
            }

            // -1: not our child (or already reaped); 0: ours but not finished yet.
            if (result != 0 || DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(5).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Makes this process the subreaper of its descendants, so a daemonized QEMU is re-parented to us and can be
    /// reaped when it exits, instead of lingering as a zombie under a PID 1 that does not reap.
    /// </summary>
    public static void BecomeSubreaper() => Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    /// <summary>
    /// Kills <paramref name="pid"/> and, once it has died (at most <paramref name="timeout"/>), collects its exit
    /// status, so a child of ours does not stay behind as a zombie.
    /// </summary>
    public static async Task KillAndReapAsync(int pid, TimeSpan timeout)
    {
        Kill(pid);
        var deadline = DateTime.UtcNow + timeout;
        while (IsAlive(pid) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10).ConfigureAwait(false);
        }

        await ReapAsync(pid, deadline - DateTime.UtcNow).ConfigureAwait(false);
    }

    /// <summary>
    /// Collects the exit status of every zombie child of this process that runs in a session of its own and whose
    /// command name is one of <paramref name="commandNames"/> (compared as the kernel keeps them: at most 15
    /// characters), except <paramref name="keep"/>. A daemonizing QEMU leaves such children behind: its intermediate
    /// process always, and on a failed start the daemon itself; they are re-parented to us as the subreaper and
    /// nobody else waits for them.
    /// </summary>
    /// <remarks>
    /// The session test is what keeps this away from children that <see cref="System.Diagnostics.Process"/> started
    /// (the daemonizing parent, <c>qemu -version</c>): they share our session, and .NET fails fast if someone else
    /// reaps a child it waits for. A daemon calls setsid, so everything it leaves behind is in another session.
    /// </remarks>
    /// <returns>How many were reaped.</returns>
    public static int ReapZombieChildren(IEnumerable<string> commandNames, IReadOnlyCollection<int> keep)
    {
        ArgumentNullException.ThrowIfNull(commandNames);
        ArgumentNullException.ThrowIfNull(keep);
        var comms = commandNames.Select(name => name.Length > MaxCommandName ? name[..MaxCommandName] : name).ToHashSet(StringComparer.Ordinal);
        var self = Environment.ProcessId;
        var ownSession = OwnSession();
        var reaped = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || keep.Contains(pid))
            {
                continue;
            }

            if (ReadStat(pid) is { State: 'Z' } stat && stat.ParentPid == self && stat.Session != ownSession && comms.Contains(stat.Command)
                && Native.waitpid(pid, out _, Native.WNOHANG) == pid)
            {
                reaped++;
            }
        }

        return reaped;
    }

    private static char? State(int pid) => ReadStat(pid)?.State;

    private static int OwnSession() => ReadStat(Environment.ProcessId)?.Session ?? 0;

    private static Stat? ReadStat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // "pid (comm) S ppid pgrp session ...": comm may itself contain spaces and parentheses.
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            if (open < 0 || close < open || close + 2 >= stat.Length)
            {
                return null;
            }

            var fields = stat[(close + 2)..].Split(' ');
            return new Stat(stat[(open + 1)..close], fields[0][0], Field(fields, 1), Field(fields, 3));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static int Field(string[] fields, int index) =>
        fields.Length > index && int.TryParse(fields[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;

    private sealed record Stat(string Command, char State, int ParentPid, int Session);
}
