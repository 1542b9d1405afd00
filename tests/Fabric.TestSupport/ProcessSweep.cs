using System.Globalization;

namespace Fabric.TestSupport;

/// <summary>Finds and kills processes by what their command line contains (QEMU processes of a test's data directory).</summary>
public static class ProcessSweep
{
    /// <summary>Pids of live processes whose command line contains <paramref name="fragment"/> (this process excluded).</summary>
    public static IReadOnlyList<int> Find(string fragment)
    {
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(entry, "cmdline")).Replace('\0', ' ');
                var state = File.ReadAllText(Path.Combine(entry, "stat"));
                var zombie = state[(state.LastIndexOf(')') + 2)..].StartsWith('Z');
                if (!zombie && commandLine.Contains(fragment, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    /// <summary>Pids of live QEMU processes whose command line contains <paramref name="fragment"/>.</summary>
    public static IReadOnlyList<int> FindQemu(string fragment) =>
        Find(fragment).Where(pid => File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("qemu-system", StringComparison.Ordinal)).ToList();

    /// <summary>Kills (SIGKILL) every live process whose command line contains <paramref name="fragment"/>.</summary>
    public static int KillAll(string fragment)
    {
        var pids = Find(fragment);
        foreach (var pid in pids)
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill();
            }
            catch (ArgumentException)
            {
            }
            catch (InvalidOperationException)
            {
            }
        }

        return pids.Count;
    }
}
