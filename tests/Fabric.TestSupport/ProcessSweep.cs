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

    /// <summary>Whether <paramref name="pid"/> is a QEMU of VM <paramref name="vm"/> (by its <c>-name guest=…</c> argument).</summary>
    public static bool IsQemuOf(int pid, string vm) =>
        Processes.Arguments(pid).Contains($"guest={vm},debug-threads=on");

    /// <summary>Pids of live QEMU processes whose command line contains <paramref name="fragment"/>.</summary>
    public static IReadOnlyList<int> FindQemu(string fragment) =>
        Find(fragment).Where(pid => Processes.Arguments(pid) is [var program, ..] && Path.GetFileName(program).StartsWith("qemu-system", StringComparison.Ordinal)).ToList();

    /// <summary>
    /// Removes the VM cgroups (<c>fabric/&lt;host&gt;/…</c>) of every host data directory under <paramref name="dataRoot"/>
    /// (or of <paramref name="dataRoot"/> itself, a driver's data directory), once their QEMU processes are gone.
    /// </summary>
    public static void RemoveCgroups(string dataRoot, bool hostsBelow)
    {
        var hosts = !hostsBelow ? [Path.GetFileName(dataRoot)] : Directory.Exists(dataRoot) ? Directory.EnumerateDirectories(dataRoot).Select(Path.GetFileName).OfType<string>() : [];
        foreach (var host in hosts)
        {
            Fabric.Hypervisor.Confinement.VmCgroup.RemoveHostLeftovers(host);
        }
    }

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
