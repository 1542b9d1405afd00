using System.Globalization;
using Fabric.Hypervisor.Linux;

namespace Fabric.TestSupport;

/// <summary>Finds and kills processes by what their command line contains (the QEMU processes of a test's directory).</summary>
public static class ProcessSweep
{
    /// <summary>Pids of live processes whose command line contains <paramref name="fragment"/> (this process excluded).</summary>
    public static IReadOnlyList<int> Find(string fragment)
    {
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid != Environment.ProcessId
                && Processes.IsAlive(pid)
                && Processes.Arguments(pid).Any(a => a.Contains(fragment, StringComparison.Ordinal)))
            {
                found.Add(pid);
            }
        }

        return found;
    }

    /// <summary>Pids of live QEMU processes whose command line contains <paramref name="fragment"/>.</summary>
    public static IReadOnlyList<int> FindQemu(string fragment) =>
        Find(fragment).Where(pid => Processes.Arguments(pid) is [var program, ..] && program.StartsWith("qemu-system", StringComparison.Ordinal)).ToList();

    /// <summary>Kills (SIGKILL) every live process whose command line contains <paramref name="fragment"/>.</summary>
    public static int KillAll(string fragment)
    {
        var pids = Find(fragment);
        foreach (var pid in pids)
        {
            Processes.Kill(pid);
        }

        return pids.Count;
    }
}
