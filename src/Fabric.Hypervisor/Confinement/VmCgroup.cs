using System.Globalization;

namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// The cgroup of one VM's QEMU: <c>fabric/&lt;host&gt;/&lt;vm&gt;-&lt;instance8&gt;</c> under each controller (cgroup v1:
/// <c>cpu</c>, <c>memory</c>, <c>pids</c> mounted apart) or once in the unified hierarchy (v2, where it offers cpu and
/// memory). The launcher writes its own pid into <see cref="ProcsFiles"/> before it execs QEMU, so QEMU and every thread
/// it makes are held to the limits from their first instruction. Plain files, no Orleans, no state of its own: a
/// restarted driver finds the same cgroup from the same name.
/// </summary>
public sealed class VmCgroup
{
    public const string FabricRoot = "fabric";
    private static readonly string[] V1Controllers = ["cpu", "memory", "pids"];

    private VmCgroup(string mount, bool unified, string relative)
    {
        Mount = mount;
        Unified = unified;
        Relative = relative;
    }

    /// <summary>Where the cgroup file systems are mounted (<c>/sys/fs/cgroup</c>).</summary>
    public string Mount { get; }

    /// <summary>True on cgroup v2.</summary>
    public bool Unified { get; }

    /// <summary>The cgroup's path below each controller's root.</summary>
    public string Relative { get; }

    /// <summary>One directory per controller (v1), or the one directory (v2).</summary>
    public IReadOnlyList<string> Directories => Unified ? [Path.Combine(Mount, Relative)] : [.. V1Controllers.Select(c => Path.Combine(Mount, c, Relative))];

    /// <summary>The files the launcher writes its pid into to join the cgroup.</summary>
    public IReadOnlyList<string> ProcsFiles => [.. Directories.Select(d => Path.Combine(d, "cgroup.procs"))];

    private string MemoryDirectory => Unified ? Path.Combine(Mount, Relative) : Path.Combine(Mount, "memory", Relative);

    /// <summary>The cgroup of <paramref name="vm"/>'s instance <paramref name="instanceId"/> on <paramref name="host"/>, in the hierarchy this machine offers.</summary>
    public static VmCgroup For(string host, string vm, Guid instanceId, string mount = "/sys/fs/cgroup")
    {
        VmPathsCheck(vm);
        return new VmCgroup(mount, IsUnified(mount), HostRelative(host) + "/" + vm + "-" + instanceId.ToString("N")[..8]);
    }

    /// <summary>A cgroup recorded earlier (<see cref="Relative"/>), found again after a restart.</summary>
    public static VmCgroup Existing(string relative, string mount = "/sys/fs/cgroup")
    {
        if (!relative.StartsWith(FabricRoot + "/", StringComparison.Ordinal) || relative.Contains("..", StringComparison.Ordinal))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"'{relative}' is not a fabric VM cgroup");
        }

        return new VmCgroup(mount, IsUnified(mount), relative);
    }

    /// <summary>The host's own subtree (<c>fabric/&lt;host&gt;</c>); any character outside <c>[A-Za-z0-9._-]</c> becomes '_'.</summary>
    public static string HostRelative(string host)
    {
        var safe = new string([.. host.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_')]);
        return FabricRoot + "/" + (safe.Trim('.').Length == 0 ? "_" : safe);
    }

    /// <summary>v2 counts as usable only where the unified root offers both cpu and memory (these machines offer neither).</summary>
    public static bool IsUnified(string mount)
    {
        var controllers = Path.Combine(mount, "cgroup.controllers");
        if (!File.Exists(controllers))
        {
            return false;
        }

        var offered = File.ReadAllText(controllers).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return offered.Contains("cpu") && offered.Contains("memory");
    }

    /// <summary>Creates the cgroup (and its parents) and sets its limits; an existing one is reused with the new limits.</summary>
    public void Create(CgroupLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (Unified)
        {
            // Each level hands the controllers to the next: a leaf only has cpu.max and memory.max once its parents enabled them.
            var current = Mount;
            foreach (var part in Relative.Split('/'))
            {
                Write(Path.Combine(current, "cgroup.subtree_control"), "+cpu +memory +pids");
                current = Path.Combine(current, part);
                Directory.CreateDirectory(current);
            }

            Write(Path.Combine(current, "cpu.max"), $"{limits.CpuQuotaMicros} {CgroupLimits.CpuPeriodMicros}");
            Write(Path.Combine(current, "memory.max"), Number(limits.MemoryBytes));
            Write(Path.Combine(current, "memory.swap.max"), "0", optional: true);
            Write(Path.Combine(current, "pids.max"), Number(limits.PidsMax));
            return;
        }

        foreach (var directory in Directories)
        {
            Directory.CreateDirectory(directory);
        }

        var cpu = Path.Combine(Mount, "cpu", Relative);
        Write(Path.Combine(cpu, "cpu.cfs_period_us"), Number(CgroupLimits.CpuPeriodMicros));
        Write(Path.Combine(cpu, "cpu.cfs_quota_us"), Number(limits.CpuQuotaMicros));
        Write(Path.Combine(MemoryDirectory, "memory.limit_in_bytes"), Number(limits.MemoryBytes));

        // Guest RAM pushed to swap would escape the limit's meaning (and slow the guest unseen); where allowed, no swap.
        Write(Path.Combine(MemoryDirectory, "memory.swappiness"), "0", optional: true);
        Write(Path.Combine(Mount, "pids", Relative, "pids.max"), Number(limits.PidsMax));
    }

    public bool Exists => Directories.Any(Directory.Exists);

    /// <summary>The memory limit in force, in bytes (null when the cgroup is gone).</summary>
    public long? MemoryLimitBytes => ReadNumber(Path.Combine(MemoryDirectory, Unified ? "memory.max" : "memory.limit_in_bytes"));

    /// <summary>How many tasks (processes and threads) the cgroup holds now (<c>pids.current</c>).</summary>
    public long? Tasks => ReadNumber(Path.Combine(Unified ? Path.Combine(Mount, Relative) : Path.Combine(Mount, "pids", Relative), "pids.current"));

    /// <summary>The memory the cgroup's processes use now, in bytes.</summary>
    public long? MemoryUsageBytes => ReadNumber(Path.Combine(MemoryDirectory, Unified ? "memory.current" : "memory.usage_in_bytes"));

    /// <summary>The highest memory use so far (v2 offers <c>memory.peak</c> from Linux 5.19).</summary>
    public long? MemoryPeakBytes => ReadNumber(Path.Combine(MemoryDirectory, Unified ? "memory.peak" : "memory.max_usage_in_bytes"));

    /// <summary>How many processes the cgroup's OOM killer has killed (v1: <c>memory.oom_control</c>, v2: <c>memory.events</c>).</summary>
    public long OomKills()
    {
        var file = Path.Combine(MemoryDirectory, Unified ? "memory.events" : "memory.oom_control");
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields is ["oom_kill", var count] && long.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var kills))
                {
                    return kills;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return 0;
    }

    /// <summary>The pids in the cgroup (from the memory controller's, or the one, directory).</summary>
    public IReadOnlyList<int> Pids()
    {
        try
        {
            return [.. File.ReadLines(Path.Combine(MemoryDirectory, "cgroup.procs")).Select(l => int.Parse(l, CultureInfo.InvariantCulture))];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Removes the cgroup once its processes are gone; true when nothing of it is left.</summary>
    public bool TryRemove()
    {
        var removed = true;
        foreach (var directory in Directories.Where(Directory.Exists))
        {
            try
            {
                Directory.Delete(directory);
            }
            catch (IOException)
            {
                removed = false; // Busy: a task still runs in it (an exiting QEMU's last threads); a later sweep removes it.
            }
        }

        return removed;
    }

    /// <summary>Removes every cgroup below <c>fabric/&lt;host&gt;</c> that no process uses any more, then the host's own if empty.</summary>
    public static int RemoveHostLeftovers(string host, string mount = "/sys/fs/cgroup")
    {
        var relative = HostRelative(host);
        var roots = IsUnified(mount) ? [Path.Combine(mount, relative)] : V1Controllers.Select(c => Path.Combine(mount, c, relative)).ToArray();
        var removed = 0;
        foreach (var root in roots.Where(Directory.Exists))
        {
            foreach (var leaf in Directory.EnumerateDirectories(root))
            {
                try
                {
                    Directory.Delete(leaf);
                    removed++;
                }
                catch (IOException)
                {
                }
            }

            try
            {
                Directory.Delete(root);
            }
            catch (IOException)
            {
            }
        }

        return removed;
    }

    private static void VmPathsCheck(string vm) => SafeNames.Ensure(vm, "VM");

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static long? ReadNumber(string file)
    {
        try
        {
            var text = File.ReadAllText(file).Trim();
            return text == "max" ? long.MaxValue : long.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static void Write(string file, string value, bool optional = false)
    {
        try
        {
            File.WriteAllText(file, value);
        }
        catch (Exception ex) when (optional && ex is IOException or UnauthorizedAccessException)
        {
            // Not offered by this kernel or refused at this level: the limit is a refinement, not a requirement.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot write '{value}' to {file}: {ex.Message}", ex);
        }
    }
}
