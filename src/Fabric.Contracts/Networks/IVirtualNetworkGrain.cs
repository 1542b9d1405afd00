using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One virtual network, keyed by its name: the single writer of its addresses and MACs (allocated one request at a
/// time and written before they are handed out, so no two NICs ever hold the same one), its allow rules, and which
/// hosts realize it. Hosts pull what they must realize (<see cref="Realize"/>) whenever they plug a NIC in and at
/// every reconciliation, and are told one-way when something they realize changed. Calls flow from clients, VMs and
/// hosts into networks; back to hosts only one-way.
/// </summary>
[Alias("fabric.IVirtualNetworkGrain")]
public interface IVirtualNetworkGrain : IGrainWithStringKey
{
    /// <summary>Creates the network with a new overlay id; <c>conflict</c> when it exists or its prefix overlaps an exclusive network's.</summary>
    [Alias("Create")]
    Task<NetworkInfo> Create(NetworkSpec spec);

    /// <summary>The network with its ports (<c>not-found</c> when it does not exist).</summary>
    [AlwaysInterleave, Alias("Get")]
    Task<NetworkInfo> Get();

    /// <summary>Deletes the network; <c>conflict</c> while NICs are attached.</summary>
    [Alias("Delete")]
    Task Delete();

    /// <summary>
    /// Allocates the NIC in <paramref name="slot"/> of <paramref name="vm"/>: the address asked for (<c>conflict</c> when
    /// another NIC holds it, <c>invalid-spec</c> when it is outside the prefix or reserved) or the lowest free one, and
    /// its MAC. Idempotent: the same VM and slot get the NIC they hold.
    /// </summary>
    [Alias("AllocateNic"), HostInternal]
    Task<NicPlacement> AllocateNic(string vm, int slot, string? ip);

    /// <summary>Frees the NIC of <paramref name="vm"/> in <paramref name="slot"/>; nothing when it holds none.</summary>
    [Alias("ReleaseNic"), HostInternal]
    Task ReleaseNic(string vm, int slot);

    [Alias("AddRule")]
    Task<NetworkRule> AddRule(NetworkRule rule);

    /// <summary>Removes rule <paramref name="id"/>; <c>not-found</c> when there is none.</summary>
    [Alias("RemoveRule")]
    Task RemoveRule(int id);

    /// <summary>
    /// What <paramref name="host"/> (at underlay <paramref name="address"/>) must realize: the network, its peers (the
    /// other hosts realizing it), every NIC's reservation, the rules. Records the host as realizing the network.
    /// <c>not-found</c> when the network no longer exists.
    /// </summary>
    [Alias("Realize"), HostInternal]
    Task<NetworkRealization> Realize(string host, string address);

    /// <summary><paramref name="host"/> no longer has a NIC on the network; harmless when it had none.</summary>
    [Alias("Leave"), HostInternal]
    Task Leave(string host);
}

/// <summary>What a host realizes for one network (see <see cref="IVirtualNetworkGrain.Realize"/>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkRealization")]
public sealed record NetworkRealization
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required int Vni { get; init; }

    [Id(2)]
    public required string Cidr { get; init; }

    [Id(3)]
    public required string Gateway { get; init; }

    [Id(4)]
    public required bool Dhcp { get; init; }

    [Id(5)]
    public required int Mtu { get; init; }

    /// <summary>Underlay addresses of the other hosts realizing the network.</summary>
    [Id(6)]
    public ImmutableArray<string> Peers { get; init; } = [];

    /// <summary>Every NIC of the network (their MAC → address reservations).</summary>
    [Id(7)]
    public ImmutableArray<NetworkPort> Ports { get; init; } = [];

    [Id(8)]
    public ImmutableArray<NetworkRule> Rules { get; init; } = [];
}

/// <summary>The networks' directory (one activation, key <see cref="Key"/>): names, overlay ids and prefixes, for listings and exclusivity.</summary>
[Alias("fabric.INetworkDirectoryGrain")]
public interface INetworkDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "fabric";

    /// <summary>The most networks a fabric holds.</summary>
    public const int MaxNetworks = 4096;

    /// <summary>
    /// Registers a network and returns its overlay id (the one it has when already registered with the same prefix);
    /// <c>conflict</c> when an exclusive network's prefix overlaps it, or it is exclusive and overlaps any.
    /// </summary>
    [Alias("Add"), HostInternal]
    Task<int> Add(string network, string cidr, bool exclusive);

    [Alias("Remove"), HostInternal]
    Task Remove(string network);

    [AlwaysInterleave, Alias("List")]
    Task<ImmutableArray<string>> List();
}

/// <summary>
/// A host's side of networks, served by the host grain: NICs of the VMs placed there, and the realization of their
/// networks (bridge, VXLAN, taps, rules, DHCP) inside the host's network namespace. Realization is level-triggered:
/// the host realizes what its VMs' NICs need at every launch and reconciliation, and removes what nothing needs.
/// </summary>
[Alias("fabric.IHostNetworking"), HostInternal]
public interface IHostNetworking : IGrainWithStringKey
{
    /// <summary>Adds a NIC to the VM's ledger entry and hot-plugs it when the VM runs (its network realized first).</summary>
    [Alias("AttachNic")]
    Task AttachNic(VmAssignment assignment, NicPlacement nic);

    /// <summary>Unplugs the NIC in <paramref name="slot"/> (the guest must let it go) and removes it from the ledger entry.</summary>
    [Alias("DetachNic")]
    Task DetachNic(VmAssignment assignment, int slot);

    /// <summary>A network this host realizes changed (peers, rules): realize it again.</summary>
    [OneWay, Alias("NetworkChanged")]
    Task NetworkChanged(string network);
}

/// <summary>A network as realized on a host (<c>host get -o json</c>: <c>networks</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.HostNetwork")]
public sealed record HostNetwork
{
    [Id(0)]
    public required string Network { get; init; }

    [Id(1)]
    public required int Vni { get; init; }

    [Id(2)]
    public required string Bridge { get; init; }

    /// <summary>Taps of the VMs' NICs on the bridge.</summary>
    [Id(3)]
    public ImmutableArray<string> Taps { get; init; } = [];

    /// <summary>Underlay addresses of the peer hosts the VXLAN device floods to.</summary>
    [Id(4)]
    public ImmutableArray<string> Peers { get; init; } = [];

    /// <summary>dnsmasq's pid on the host, when DHCP runs there.</summary>
    [Id(5)]
    public int? DhcpPid { get; init; }
}
