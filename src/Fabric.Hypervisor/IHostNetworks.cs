using System.Collections.Immutable;

namespace Fabric.Hypervisor;

/// <summary>
/// The virtual networks realized on this machine, inside the host's own network namespace: per network a Linux bridge
/// (<c>fb&lt;vni&gt;</c>), a VXLAN device (<c>fx&lt;vni&gt;</c>) over the underlay with one flood entry per peer
/// host, a tap per VM NIC, an nftables table that isolates the network (no routing in or out, nothing of the host's
/// namespace reachable but DHCP) and enforces its allow rules, and, with DHCP on, a dnsmasq bound to the bridge that
/// hands each NIC its reserved address. Level-triggered: a plan says what one network should be, and realizing it
/// again changes only what differs. Nothing here removes a tap a live process holds open (its carrier is up).
/// </summary>
public interface IHostNetworks
{
    /// <summary>
    /// Makes network <paramref name="plan"/> agree with the plan: bridge, VXLAN device and MTU; flood entries for
    /// exactly <see cref="NetworkPlan.Peers"/>; the nftables table for its rules; dnsmasq with exactly its
    /// reservations (restarted only when its configuration changed; reservations alone are reloaded); and every tap in
    /// <see cref="NetworkPlan.Ports"/> made and on the bridge. Taps of the network not in the plan are left alone
    /// (<see cref="RemovePortAsync"/> removes one), so that two plans computed at different moments can never unplug
    /// each other's ports. Calls for one network are serialized.
    /// </summary>
    Task<RealizedNetwork> RealizeAsync(NetworkPlan plan, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the tap <paramref name="tap"/> of network <paramref name="vni"/>; harmless when absent. <c>Conflict</c>
    /// (and the tap kept) while a process holds it open, unless <paramref name="evenInUse"/>.
    /// </summary>
    Task RemovePortAsync(int vni, string tap, bool evenInUse, CancellationToken cancellationToken);

    /// <summary>
    /// Removes everything network <paramref name="vni"/> has on this machine (dnsmasq, nftables table, taps, VXLAN
    /// device, bridge, files); harmless when nothing is there. <c>Conflict</c> (and nothing removed) while a process
    /// holds one of its taps open.
    /// </summary>
    Task RemoveAsync(int vni, CancellationToken cancellationToken);

    /// <summary>What is realized now, read from the machine (never from memory): every network this driver made.</summary>
    Task<IReadOnlyList<RealizedNetwork>> ObserveAsync(CancellationToken cancellationToken);
}

/// <summary>What one network should be on this host.</summary>
/// <param name="Name">The network's name (for logs and dnsmasq's files; the devices are named by VNI).</param>
/// <param name="Vni">The VXLAN network identifier, 1–16777215; names the devices.</param>
/// <param name="Cidr">The network's IPv4 prefix, e.g. <c>10.10.0.0/24</c>.</param>
/// <param name="Gateway">The network's gateway address, inside <see cref="Cidr"/>; the bridge holds it when DHCP is on (dnsmasq serves from it).</param>
/// <param name="Dhcp">Whether this host runs dnsmasq for the network.</param>
/// <param name="Mtu">The MTU of the bridge, VXLAN device, taps and (by DHCP) the guests.</param>
/// <param name="LocalAddress">This host's underlay address: the VXLAN device's source.</param>
public sealed record NetworkPlan(string Name, int Vni, string Cidr, string Gateway, bool Dhcp, int Mtu, string LocalAddress)
{
    /// <summary>The underlay addresses of the other hosts that realize the network (flood entries).</summary>
    public ImmutableArray<string> Peers { get; init; } = [];

    /// <summary>Taps to have on the bridge (NICs of VMs on this host).</summary>
    public ImmutableArray<PortPlan> Ports { get; init; } = [];

    /// <summary>MAC → IP reservations dnsmasq hands out (every NIC of the network, wherever it runs, so a migrated guest keeps its lease).</summary>
    public ImmutableArray<DhcpReservation> Reservations { get; init; } = [];

    /// <summary>
    /// Allow rules: when there are none, all traffic between the network's NICs flows; when there are some, a new
    /// flow between them (or into them) is let through only if it matches one, replies to allowed flows always are.
    /// </summary>
    public ImmutableArray<TrafficRule> Rules { get; init; } = [];
}

/// <summary>A tap for one NIC.</summary>
public sealed record PortPlan(string Tap, string Mac);

/// <summary>The address dnsmasq gives a NIC.</summary>
public sealed record DhcpReservation(string Mac, string Ip);

/// <summary>An allow rule: traffic of <paramref name="Protocol"/> (<c>tcp</c>, <c>udp</c>, <c>icmp</c> or <c>any</c>) to ports <paramref name="FromPort"/>–<paramref name="ToPort"/> (tcp/udp only; null: any port) from <paramref name="SourceCidr"/>.</summary>
public sealed record TrafficRule(string Protocol, int? FromPort, int? ToPort, string SourceCidr);

/// <summary>A network as found on the machine.</summary>
/// <param name="Vni">Its VXLAN id.</param>
/// <param name="Bridge">The bridge's name.</param>
/// <param name="Taps">The taps on the bridge (<see cref="RealizedPort.InUse"/>: a process holds it open).</param>
/// <param name="Peers">The underlay addresses of its flood entries.</param>
/// <param name="DhcpPid">dnsmasq's pid, when one runs for it.</param>
public sealed record RealizedNetwork(int Vni, string Bridge, ImmutableArray<RealizedPort> Taps, ImmutableArray<string> Peers, int? DhcpPid);

public sealed record RealizedPort(string Tap, bool InUse);
