using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>What an operator asks for when creating a virtual network (<c>net create</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkSpec")]
public sealed record NetworkSpec
{
    /// <summary>The underlay's 1500 less VXLAN's 50 bytes of headers.</summary>
    public const int DefaultMtu = 1450;
    public const int MinMtu = 576;

    /// <summary>A jumbo-frame underlay (9000) less VXLAN's headers.</summary>
    public const int MaxMtu = 8950;

    [Id(0)]
    public required string Name { get; init; }

    /// <summary>The network's IPv4 prefix, /16 to /29.</summary>
    [Id(1)]
    public required string Cidr { get; init; }

    /// <summary>The gateway address; null: the prefix's first address. Never given to a NIC.</summary>
    [Id(2)]
    public string? Gateway { get; init; }

    /// <summary>Guests get their reserved address by DHCP (a dnsmasq per network on each host); off: they are configured statically.</summary>
    [Id(3)]
    public bool Dhcp { get; init; } = true;

    [Id(4)]
    public int Mtu { get; init; } = DefaultMtu;

    /// <summary>The prefix may overlap no other network's (networks are isolated, so overlaps are allowed unless one asks otherwise).</summary>
    [Id(5)]
    public bool Exclusive { get; init; }

    /// <summary>Checks every field; returns the spec with the gateway filled in, or throws <c>invalid-spec</c> naming the first bad one.</summary>
    public NetworkSpec Validate()
    {
        Names.Require("name", Name);
        var cidr = Ipv4Cidr.Parse("cidr", Cidr, Ipv4Cidr.MinPrefixLength, Ipv4Cidr.MaxPrefixLength);
        var gateway = Gateway is null ? cidr.At(1) : Ipv4Cidr.ParseAddress("gateway", Gateway);
        if (!cidr.Contains(gateway))
        {
            throw FabricException.InvalidSpec("gateway", $"{Ipv4Cidr.Format(gateway)} is outside {cidr}");
        }

        if (gateway == cidr.Network || gateway == cidr.Broadcast)
        {
            throw FabricException.InvalidSpec("gateway", $"{Ipv4Cidr.Format(gateway)} is the {(gateway == cidr.Network ? "network" : "broadcast")} address of {cidr}");
        }

        if (Mtu is < MinMtu or > MaxMtu)
        {
            throw FabricException.InvalidSpec("mtu", $"{Mtu} is out of range {MinMtu}–{MaxMtu}");
        }

        return this with { Cidr = cidr.ToString(), Gateway = Ipv4Cidr.Format(gateway) };
    }
}

/// <summary>What traffic an allow rule names.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuleProtocol>))]
public enum RuleProtocol
{
    Any,
    Tcp,
    Udp,
    Icmp,
}

/// <summary>
/// An allow rule of a network. A network without rules lets all traffic between its NICs flow; once it has one, a new
/// flow reaches a NIC only if a rule allows it (replies to allowed flows always do).
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkRule")]
public sealed record NetworkRule
{
    public const int MaxPerNetwork = 64;

    /// <summary>Given by the network (1, 2, …); names the rule for <c>net rule remove</c>.</summary>
    [Id(0)]
    public int Id { get; init; }

    [Id(1)]
    public RuleProtocol Protocol { get; init; }

    /// <summary>First destination port (tcp and udp only; null: any port).</summary>
    [Id(2)]
    public int? FromPort { get; init; }

    /// <summary>Last destination port (null: <see cref="FromPort"/>).</summary>
    [Id(3)]
    public int? ToPort { get; init; }

    /// <summary>Where the traffic comes from.</summary>
    [Id(4)]
    public string Source { get; init; } = "0.0.0.0/0";

    public NetworkRule Validate()
    {
        if (!Enum.IsDefined(Protocol))
        {
            throw FabricException.InvalidSpec("protocol", $"'{Protocol}' is not any, tcp, udp or icmp");
        }

        var source = Ipv4Cidr.Parse("source", Source);
        if (FromPort is null && ToPort is not null)
        {
            throw FabricException.InvalidSpec("port", "a range needs its first port");
        }

        if (FromPort is { } from)
        {
            if (Protocol is not (RuleProtocol.Tcp or RuleProtocol.Udp))
            {
                throw FabricException.InvalidSpec("port", $"ports apply to tcp and udp, not {Protocol.ToString().ToLowerInvariant()}");
            }

            var to = ToPort ?? from;
            if (from is < 1 or > 65535 || to is < 1 or > 65535 || to < from)
            {
                throw FabricException.InvalidSpec("port", $"{from}-{to} is not a range within 1–65535");
            }

            return this with { ToPort = to, Source = source.ToString() };
        }

        return this with { Source = source.ToString() };
    }

    /// <summary>Parses a port or range <c>P</c> / <c>P-Q</c>; throws <c>invalid-spec</c> naming <c>port</c>.</summary>
    public static (int From, int To) ParsePorts(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('-');
        if (parts.Length is < 1 or > 2 || !parts.All(p => int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)))
        {
            throw FabricException.InvalidSpec("port", $"'{Names.Printable(text)}' is not a port or a range like 5000-5010");
        }

        var from = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        return (from, parts.Length == 2 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : from);
    }

    public override string ToString()
    {
        var ports = FromPort is null ? "" : FromPort == ToPort ? $" port {FromPort}" : $" ports {FromPort}-{ToPort}";
        return $"{Protocol.ToString().ToLowerInvariant()}{ports} from {Source}";
    }
}

/// <summary>A network as operators see it (<c>net get -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkInfo")]
public sealed record NetworkInfo
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required string Cidr { get; init; }

    [Id(2)]
    public required string Gateway { get; init; }

    [Id(3)]
    public required bool Dhcp { get; init; }

    [Id(4)]
    public required int Mtu { get; init; }

    /// <summary>The VXLAN network identifier that carries the network between hosts.</summary>
    [Id(5)]
    public required int Vni { get; init; }

    [Id(6)]
    public bool Exclusive { get; init; }

    /// <summary>NICs attached (each holds an address and a MAC).</summary>
    [Id(7)]
    public int Nics { get; init; }

    /// <summary>Addresses a NIC can still get.</summary>
    [Id(8)]
    public long FreeAddresses { get; init; }

    /// <summary>Hosts realizing the network now (they have a member NIC), with their underlay addresses.</summary>
    [Id(9)]
    public ImmutableArray<NetworkMember> Hosts { get; init; } = [];

    [Id(10)]
    public ImmutableArray<NetworkRule> Rules { get; init; } = [];

    [Id(11)]
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Its NICs (filled by <c>net get</c>, empty in listings).</summary>
    [Id(12)]
    public ImmutableArray<NetworkPort> Ports { get; init; } = [];
}

/// <summary>A host realizing a network.</summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkMember")]
public sealed record NetworkMember(
    [property: Id(0)] string Host,
    [property: Id(1)] string Address);

/// <summary>A NIC of a network: the VM holding it, its slot there, its address and MAC.</summary>
[GenerateSerializer, Immutable, Alias("fabric.NetworkPort")]
public sealed record NetworkPort(
    [property: Id(0)] string Vm,
    [property: Id(1)] int Slot,
    [property: Id(2)] string Ip,
    [property: Id(3)] string Mac);
