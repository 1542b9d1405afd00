using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// The files of one network's dnsmasq, in <c>DATA/networks/ID/</c>: its configuration, the reservations
/// (<c>dhcp-hostsfile</c>, <c>MAC,IP</c> lines, re-read on SIGHUP), the leases it keeps, its pid file and its log.
/// </summary>
internal sealed class DnsmasqFiles
{
    public DnsmasqFiles(string dataDirectory, int vni)
    {
        Directory = Path.Combine(dataDirectory, "networks", NetworkNames.Id(vni));
        Config = Path.Combine(Directory, "dnsmasq.conf");
        Hosts = Path.Combine(Directory, "hosts");
        Leases = Path.Combine(Directory, "leases");
        Pid = Path.Combine(Directory, "dnsmasq.pid");
        Log = Path.Combine(Directory, "dnsmasq.log");
    }

    public string Directory { get; }

    public string Config { get; }

    public string Hosts { get; }

    public string Leases { get; }

    public string Pid { get; }

    public string Log { get; }

    /// <summary>The argument that names this network's configuration: how its dnsmasq is told from any other.</summary>
    public string ConfigArgument => "--conf-file=" + Config;

    /// <summary>
    /// The configuration: DHCP only (no DNS), on the bridge alone, reservations only with leases that never end (the
    /// fabric holds a NIC's address for as long as the NIC exists), the gateway as router, the network's MTU.
    /// Given with <c>--conf-file</c>, it is the only file dnsmasq reads besides the reservations.
    /// </summary>
    public string ConfigText(ValidPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# Fabric network {plan.Name} (vni {plan.Vni}): written by the host's network realizer, replaced on change.\n");
        text.Append("port=0\n");
        text.Append(CultureInfo.InvariantCulture, $"interface={plan.Bridge}\n");
        text.Append("bind-interfaces\n");
        text.Append("except-interface=lo\n");
        text.Append(CultureInfo.InvariantCulture, $"dhcp-range={plan.Cidr.Network},static,{plan.Cidr.Netmask},infinite\n");
        text.Append(CultureInfo.InvariantCulture, $"dhcp-hostsfile={Hosts}\n");
        text.Append("dhcp-authoritative\n");
        text.Append(CultureInfo.InvariantCulture, $"dhcp-option=option:router,{plan.Gateway}\n");
        text.Append(CultureInfo.InvariantCulture, $"dhcp-option=option:mtu,{plan.Mtu}\n");
        text.Append(CultureInfo.InvariantCulture, $"dhcp-leasefile={Leases}\n");
        text.Append(CultureInfo.InvariantCulture, $"pid-file={Pid}\n");
        text.Append(CultureInfo.InvariantCulture, $"log-facility={Log}\n");

        // dnsmasq drops root for nobody; the host's data directory lets only group fabric-qemu pass (0710,
        // docs/confinement.md), so that is the group it keeps, to re-read its reservations there.
        text.Append(CultureInfo.InvariantCulture, $"group={Confinement.QemuGroup.Name}\n");
        return text.ToString();
    }

    /// <summary>The reservations as dnsmasq reads them, sorted, so that the same reservations give the same file.</summary>
    public static string HostsText(ImmutableArray<ValidReservation> reservations) =>
        string.Concat(reservations.OrderBy(r => r.Mac, StringComparer.Ordinal).Select(r => $"{r.Mac},{r.Ip}\n"));

    /// <summary>
    /// The lines of a lease file (<c>EXPIRY MAC IP HOST CLIENT-ID</c>) that no reservation backs any more. dnsmasq
    /// refuses to hand out a reserved address while another MAC holds a lease on it, and these leases never end, so
    /// such a line would keep the address from its new NIC for good.
    /// </summary>
    public static bool HasStaleLeases(string leases, ImmutableArray<ValidReservation> reservations)
    {
        var reserved = reservations.Select(r => (r.Mac, r.Ip.ToString())).ToHashSet();
        return Lines(leases).Any(fields => !reserved.Contains((fields[1], fields[2])));
    }

    /// <summary>The lease file without the leases no reservation backs (see <see cref="HasStaleLeases"/>).</summary>
    public static string WithoutStaleLeases(string leases, ImmutableArray<ValidReservation> reservations)
    {
        var reserved = reservations.Select(r => (r.Mac, r.Ip.ToString())).ToHashSet();
        return string.Concat(Lines(leases).Where(fields => reserved.Contains((fields[1], fields[2]))).Select(fields => string.Join(' ', fields) + "\n"));
    }

    private static IEnumerable<string[]> Lines(string leases) =>
        leases.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 3);
}
