using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Serialization;
using Fabric.Contracts;

namespace Fabric.Grains.Network;

/// <summary>
/// A network's persisted record (grain state <c>network</c>, stored format version 1): its spec, overlay id, a row per
/// NIC (bounded by the prefix: at most 65 534), its rules (at most <see cref="NetworkRule.MaxPerNetwork"/>) and the
/// hosts realizing it. Field names are fixed here, apart from the wire types in Contracts.
/// </summary>
[GenerateSerializer, Alias("fabric.NetworkRecord")]
public sealed class NetworkRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    /// <summary>0 when the network does not exist.</summary>
    [Id(1), JsonPropertyName("vni")]
    public int Vni { get; set; }

    [Id(2), JsonPropertyName("cidr")]
    public string Cidr { get; set; } = "";

    [Id(3), JsonPropertyName("gateway")]
    public string Gateway { get; set; } = "";

    [Id(4), JsonPropertyName("dhcp")]
    public bool Dhcp { get; set; }

    [Id(5), JsonPropertyName("mtu")]
    public int Mtu { get; set; }

    [Id(6), JsonPropertyName("exclusive")]
    public bool Exclusive { get; set; }

    [Id(7), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>NICs by <see cref="PortRow.Key"/>.</summary>
    [Id(8), JsonPropertyName("ports")]
    public ImmutableDictionary<string, PortRow> Ports { get; set; } = ImmutableDictionary<string, PortRow>.Empty;

    [Id(9), JsonPropertyName("rules")]
    public ImmutableArray<NetworkRule> Rules { get; set; } = [];

    [Id(10), JsonPropertyName("nextRuleId")]
    public int NextRuleId { get; set; } = 1;

    /// <summary>Hosts realizing the network, with their underlay addresses.</summary>
    [Id(11), JsonPropertyName("members")]
    public ImmutableDictionary<string, string> Members { get; set; } = ImmutableDictionary<string, string>.Empty;

    [JsonIgnore]
    public bool Exists => Vni != 0;

    [JsonIgnore]
    public Ipv4Cidr Prefix => Ipv4Cidr.Parse("cidr", Cidr);

    /// <summary>The gateway's offset from the network address (never a NIC's).</summary>
    [JsonIgnore]
    public long GatewayOffset => Ipv4Cidr.ParseAddress("gateway", Gateway) - Prefix.Network;

    /// <summary>A NIC's MAC: locally administered unicast <c>02</c>, the VNI's three bytes, the address offset's two.</summary>
    public string MacOf(PortRow port) =>
        string.Create(CultureInfo.InvariantCulture, $"02:{(Vni >> 16) & 0xff:x2}:{(Vni >> 8) & 0xff:x2}:{Vni & 0xff:x2}:{(port.Offset >> 8) & 0xff:x2}:{port.Offset & 0xff:x2}");

    public string IpOf(PortRow port) => Ipv4Cidr.Format(Prefix.At(port.Offset));

    public NicPlacement Placement(string network, PortRow port) =>
        new(port.Slot, network, Vni, IpOf(port), MacOf(port), Mtu, Prefix.PrefixLength);

    /// <summary>A copy to change and then write: the record in memory changes only once the copy is written.</summary>
    public NetworkRecord Copy() => (NetworkRecord)MemberwiseClone();
}

/// <summary>One NIC of a network: who holds it and its address's offset in the prefix (its MAC derives from that).</summary>
[GenerateSerializer, Immutable, Alias("fabric.PortRow")]
public sealed record PortRow
{
    [Id(0), JsonPropertyName("vm")]
    public required string Vm { get; init; }

    [Id(1), JsonPropertyName("slot")]
    public required int Slot { get; init; }

    [Id(2), JsonPropertyName("offset")]
    public required int Offset { get; init; }

    [Id(3), JsonPropertyName("allocatedAt")]
    public DateTimeOffset AllocatedAt { get; init; }

    [JsonIgnore]
    public string Key => KeyOf(Vm, Slot);

    public static string KeyOf(string vm, int slot) => $"{vm}/{slot.ToString(CultureInfo.InvariantCulture)}";
}
