using System.Globalization;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// Each network's dnsmasq: one per network per host, bound to the bridge, daemonized (it outlives the silo) and
/// found again through its pid file, which is only a hint: the process counts only if /proc says it is dnsmasq
/// running this network's configuration.
/// </summary>
public sealed partial class LinuxHostNetworks
{
    private const string DnsmasqBinary = "/usr/sbin/dnsmasq";

    /// <summary>Its command name in /proc.</summary>
    private const string DnsmasqCommand = "dnsmasq";

    private const UnixFileMode ReadableByAll =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const UnixFileMode SearchableByAll =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>How long dnsmasq has to exit after SIGTERM before it gets SIGKILL.</summary>
    private static readonly TimeSpan DnsmasqStopGrace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// dnsmasq runs with exactly the plan's configuration and reservations. It is started again when it is not
    /// running, its configuration changed, the bridge was made or given its address just now, or a lease is left that
    /// no reservation backs (see <see cref="DnsmasqFiles.HasStaleLeases"/>; such leases are dropped while it is
    /// stopped). When only the reservations changed, the file is replaced and dnsmasq re-reads it on SIGHUP.
    /// </summary>
    private async Task RealizeDhcpAsync(ValidPlan plan, bool bridgeChanged, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("networks are realized on Linux");
        }

        var network = Describe(plan);
        var files = Files(plan.Vni);
        Directory.CreateDirectory(files.Directory, SearchableByAll);
        EnsureReadableByDnsmasq(files);

        var config = files.ConfigText(plan);
        var hosts = DnsmasqFiles.HostsText(plan.Reservations);
        var pid = FindDnsmasq(files, thorough: true);
        var restart =
            pid is null ? "it was not running"
            : ReadOrNull(files.Config) != config ? "its configuration changed"
            : bridgeChanged ? "the bridge was made or given its address"
            : DnsmasqFiles.HasStaleLeases(ReadOrNull(files.Leases) ?? "", plan.Reservations) ? "a lease is left that no reservation backs"
            : null;
        if (restart is not null)
        {
            if (pid is { } running)
            {
                await StopDnsmasqAsync(running, network, restart).ConfigureAwait(false);
            }

            // Stopped, dnsmasq no longer rewrites its lease file: the leases without a reservation can go.
            var leases = ReadOrNull(files.Leases) ?? "";
            if (DnsmasqFiles.HasStaleLeases(leases, plan.Reservations))
            {
                WriteAtomically(files.Leases, DnsmasqFiles.WithoutStaleLeases(leases, plan.Reservations));
            }

            WriteAtomically(files.Hosts, hosts);
            WriteAtomically(files.Config, config);
            var started = await StartDnsmasqAsync(files, network, cancellationToken).ConfigureAwait(false);
            LogDnsmasqStarted(network, started, restart);
        }
        else if (ReadOrNull(files.Hosts) != hosts && pid is { } running)
        {
            WriteAtomically(files.Hosts, hosts);
            if (Native.kill(running, Native.SIGHUP) != 0)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"network {network}: dnsmasq (pid {running}) could not be told to reload its reservations");
            }

            LogDnsmasqReloaded(network, running, plan.Reservations.Length);
        }
    }

    /// <summary>Stops the network's dnsmasq (if one runs) and removes its files.</summary>
    private async Task RemoveDhcpAsync(int vni, string network, bool thorough)
    {
        var files = Files(vni);
        if (FindDnsmasq(files, thorough) is { } pid)
        {
            await StopDnsmasqAsync(pid, network, "the network has no DHCP here any more").ConfigureAwait(false);
        }

        if (Directory.Exists(files.Directory))
        {
            Directory.Delete(files.Directory, recursive: true);
        }
    }

    private async Task<int> StartDnsmasqAsync(DnsmasqFiles files, string network, CancellationToken cancellationToken)
    {
        // dnsmasq forks, and its first process exits once the daemon is ready, or with the error that stopped it.
        var result = await _commands.TryRunAsync(DnsmasqBinary, [files.ConfigArgument], input: null, cancellationToken).ConfigureAwait(false);

        // It forks twice; the middle process exits at once and, when this process is a subreaper (a host silo is),
        // comes to it as a zombie that nobody else collects.
        Processes.ReapZombieChildren([DnsmasqCommand], keep: []);
        if (result.ExitCode != 0)
        {
            throw new HypervisorException(
                HypervisorErrorKind.Failed,
                $"network {network}: dnsmasq would not start (exit code {result.ExitCode}): {CommandRunner.OneLine(result.Error)} (log: {files.Log})");
        }

        return FindDnsmasq(files, thorough: true)
            ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"network {network}: dnsmasq started but is not running (log: {files.Log})");
    }

    private async Task StopDnsmasqAsync(int pid, string network, string reason)
    {
        Native.kill(pid, Native.SIGTERM);
        var deadline = DateTime.UtcNow + DnsmasqStopGrace;
        while (Processes.IsAlive(pid) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10).ConfigureAwait(false);
        }

        if (Processes.IsAlive(pid))
        {
            await Processes.KillAndReapAsync(pid, DnsmasqStopGrace).ConfigureAwait(false);
        }
        else
        {
            // Ours to reap only when this process is its subreaper (a host silo is: QemuDriver makes it one).
            Processes.TryReap(pid);
        }

        LogDnsmasqStopped(network, pid, reason);
    }

    /// <summary>
    /// The pid of this network's dnsmasq: the pid file's, if that process is dnsmasq running this network's
    /// configuration; else (when <paramref name="thorough"/>, or the network's folder exists) the first such process
    /// in /proc; else null.
    /// </summary>
    private static int? FindDnsmasq(DnsmasqFiles files, bool thorough)
    {
        var text = ReadOrNull(files.Pid)?.Trim();
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var hinted) && IsDnsmasqOf(hinted, files))
        {
            return hinted;
        }

        if (!thorough && !Directory.Exists(files.Directory))
        {
            return null;
        }

        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && IsDnsmasqOf(pid, files))
            {
                return pid;
            }
        }

        return null;
    }

    private static bool IsDnsmasqOf(int pid, DnsmasqFiles files) =>
        pid > 0
        && ReadOrNull($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/comm")?.TrimEnd('\n') == DnsmasqCommand
        && Processes.IsAlive(pid)
        && Processes.Arguments(pid).Contains(files.ConfigArgument, StringComparer.Ordinal);

    /// <summary>
    /// dnsmasq drops root for <c>nobody</c>, group <c>fabric-qemu</c>, before it reads its reservations (at start and on
    /// SIGHUP): every folder above them must let that group or others through, or it would serve no one and say so only
    /// in its log.
    /// </summary>
    private static void EnsureReadableByDnsmasq(DnsmasqFiles files)
    {
        try
        {
            Confinement.Ownership.EnsureTraversable(files.Directory, Confinement.QemuGroup.Resolve(), "dnsmasq's reservations folder");
        }
        catch (HypervisorException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"dnsmasq (user nobody, group {Confinement.QemuGroup.Name}) cannot read {files.Hosts}: {ex.Message}", ex);
        }
    }

    /// <summary>Writes a temporary file beside <paramref name="path"/>, readable by all, and renames it over <paramref name="path"/>.</summary>
    private static void WriteAtomically(string path, string text)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("networks are realized on Linux");
        }

        var temporary = path + ".new";
        File.WriteAllText(temporary, text);
        File.SetUnixFileMode(temporary, ReadableByAll);
        File.Move(temporary, path, overwrite: true);
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            return null;
        }
    }
}
