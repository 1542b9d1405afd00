using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Fabric.Hypervisor.Networking;

/// <summary>The protocols of an allow rule.</summary>
internal enum RuleProtocol
{
    Tcp,
    Udp,
    Icmp,
    Any,
}

/// <summary>An allow rule whose values were checked: ports (tcp/udp only) 1–65535 with from ≤ to, or none for any port.</summary>
internal sealed record ValidRule(RuleProtocol Protocol, int? FromPort, int? ToPort, Ipv4Prefix Source);

/// <summary>A MAC → IP reservation whose values were checked.</summary>
internal sealed record ValidReservation(string Mac, Ipv4Address Ip);

/// <summary>
/// A <see cref="NetworkPlan"/> that passed every check, with its addresses parsed: the only thing the realizer turns
/// into device names, nft text and dnsmasq files, so that nothing unchecked reaches them. Peers are sorted, without
/// duplicates and without this host's own address.
/// </summary>
internal sealed partial record ValidPlan(
    string Name,
    int Vni,
    Ipv4Prefix Cidr,
    Ipv4Address Gateway,
    bool Dhcp,
    int Mtu,
    Ipv4Address LocalAddress,
    ImmutableArray<Ipv4Address> Peers,
    ImmutableArray<PortPlan> Ports,
    ImmutableArray<ValidReservation> Reservations,
    ImmutableArray<ValidRule> Rules)
{
    public const int MaxPeers = 1024;
    public const int MaxPorts = 1024;
    public const int MaxReservations = 65536;
    public const int MaxRules = 256;

    /// <summary>A network needs room for its gateway and one NIC: a /30 at most.</summary>
    public const int MaxPrefixLength = 30;

    public string Bridge => NetworkNames.Bridge(Vni);

    public string Vxlan => NetworkNames.Vxlan(Vni);

    /// <summary>Checks <paramref name="plan"/>; <c>InvalidRequest</c> naming the field that is wrong.</summary>
    public static ValidPlan From(NetworkPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (!NetworkNames.IsValidNetworkName(plan.Name))
        {
            throw Invalid($"name '{plan.Name}' must be 1–63 characters of a-z, 0-9 and '-', starting with a letter or digit");
        }

        NetworkNames.EnsureVni(plan.Vni);
        var what = $"network {plan.Name} (vni {plan.Vni})";
        if (!Ipv4Prefix.TryParse(plan.Cidr, out var cidr) || cidr.Length is < 1 or > MaxPrefixLength)
        {
            throw Invalid($"{what}: cidr '{plan.Cidr}' is not an IPv4 prefix a.b.c.d/n with n 1–{MaxPrefixLength} and its host bits zero");
        }

        if (!Ipv4Address.TryParse(plan.Gateway, out var gateway))
        {
            throw Invalid($"{what}: gateway '{plan.Gateway}' is not an IPv4 address");
        }

        if (!IsHostAddress(cidr, gateway))
        {
            throw Invalid($"{what}: gateway {gateway} is not a host address inside cidr {cidr}");
        }

        if (plan.Mtu is < NicSpec.MinMtu or > NicSpec.MaxMtu)
        {
            throw Invalid($"{what}: mtu {plan.Mtu} is out of range {NicSpec.MinMtu}–{NicSpec.MaxMtu}");
        }

        if (!Ipv4Address.TryParse(plan.LocalAddress, out var local) || local.Value is 0 or uint.MaxValue)
        {
            throw Invalid($"{what}: localAddress '{plan.LocalAddress}' is not a unicast IPv4 address");
        }

        // The bridge's gateway address would put a second route to the underlay in the host's namespace.
        if (cidr.Contains(local))
        {
            throw Invalid($"{what}: cidr {cidr} contains localAddress {local}: a network may not overlap the underlay");
        }

        var peers = CheckPeers(what, OrEmpty(plan.Peers), local);
        if (peers.FirstOrDefault(cidr.Contains) is { Value: not 0 } inside)
        {
            throw Invalid($"{what}: cidr {cidr} contains peer {inside}: a network may not overlap the underlay");
        }

        return new ValidPlan(
            plan.Name,
            plan.Vni,
            cidr,
            gateway,
            plan.Dhcp,
            plan.Mtu,
            local,
            peers,
            CheckPorts(what, OrEmpty(plan.Ports)),
            CheckReservations(what, OrEmpty(plan.Reservations), cidr, gateway),
            CheckRules(what, OrEmpty(plan.Rules)));
    }

    public static bool IsMac(string? mac) => mac is not null && MacAddress().IsMatch(mac) && (Convert.ToInt32(mac[..2], 16) & 1) == 0;

    private static ImmutableArray<Ipv4Address> CheckPeers(string what, ImmutableArray<string> peers, Ipv4Address local)
    {
        EnsureAtMost(what, "peers", peers.Length, MaxPeers);
        var parsed = new SortedSet<uint>();
        for (var i = 0; i < peers.Length; i++)
        {
            if (!Ipv4Address.TryParse(peers[i], out var peer) || peer.Value is 0 or uint.MaxValue)
            {
                throw Invalid($"{what}: peers[{i}] '{peers[i]}' is not a unicast IPv4 address");
            }

            // A flood entry to this host itself would send every broadcast back to it.
            if (peer != local)
            {
                parsed.Add(peer.Value);
            }
        }

        return [.. parsed.Select(value => new Ipv4Address(value))];
    }

    private static ImmutableArray<PortPlan> CheckPorts(string what, ImmutableArray<PortPlan> ports)
    {
        EnsureAtMost(what, "ports", ports.Length, MaxPorts);
        var taps = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ports.Length; i++)
        {
            var port = ports[i] ?? throw Invalid($"{what}: ports[{i}] is missing");
            NetworkNames.EnsureTap(port.Tap, $"{what}: ports[{i}].tap");
            if (!IsMac(port.Mac))
            {
                throw Invalid($"{what}: ports[{i}].mac '{port.Mac}' is not a unicast MAC address in lower-case xx:xx:xx:xx:xx:xx form");
            }

            if (!taps.Add(port.Tap))
            {
                throw Invalid($"{what}: ports[{i}].tap '{port.Tap}' appears twice");
            }
        }

        return ports;
    }

    private static ImmutableArray<ValidReservation> CheckReservations(string what, ImmutableArray<DhcpReservation> reservations, Ipv4Prefix cidr, Ipv4Address gateway)
    {
        EnsureAtMost(what, "reservations", reservations.Length, MaxReservations);
        var macs = new HashSet<string>(StringComparer.Ordinal);
        var ips = new HashSet<Ipv4Address>();
        var result = ImmutableArray.CreateBuilder<ValidReservation>(reservations.Length);
        for (var i = 0; i < reservations.Length; i++)
        {
            var reservation = reservations[i] ?? throw Invalid($"{what}: reservations[{i}] is missing");
            if (!IsMac(reservation.Mac))
            {
                throw Invalid($"{what}: reservations[{i}].mac '{reservation.Mac}' is not a unicast MAC address in lower-case xx:xx:xx:xx:xx:xx form");
            }

            if (!Ipv4Address.TryParse(reservation.Ip, out var ip) || !IsHostAddress(cidr, ip) || ip == gateway)
            {
                throw Invalid($"{what}: reservations[{i}].ip '{reservation.Ip}' is not a host address inside cidr {cidr} other than the gateway");
            }

            if (!macs.Add(reservation.Mac))
            {
                throw Invalid($"{what}: reservations[{i}].mac {reservation.Mac} is reserved twice");
            }

            if (!ips.Add(ip))
            {
                throw Invalid($"{what}: reservations[{i}].ip {ip} is reserved twice");
            }

            result.Add(new ValidReservation(reservation.Mac, ip));
        }

        return result.MoveToImmutable();
    }

    private static ImmutableArray<ValidRule> CheckRules(string what, ImmutableArray<TrafficRule> rules)
    {
        EnsureAtMost(what, "rules", rules.Length, MaxRules);
        var result = ImmutableArray.CreateBuilder<ValidRule>(rules.Length);
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i] ?? throw Invalid($"{what}: rules[{i}] is missing");
            var field = $"{what}: rules[{i}]";
            RuleProtocol protocol = rule.Protocol switch
            {
                "tcp" => RuleProtocol.Tcp,
                "udp" => RuleProtocol.Udp,
                "icmp" => RuleProtocol.Icmp,
                "any" => RuleProtocol.Any,
                _ => throw Invalid($"{field}.protocol '{rule.Protocol}' is not one of tcp, udp, icmp, any"),
            };
            if (!Ipv4Prefix.TryParse(rule.SourceCidr, out var source))
            {
                throw Invalid($"{field}.sourceCidr '{rule.SourceCidr}' is not an IPv4 prefix a.b.c.d/n with its host bits zero");
            }

            int? from = rule.FromPort, to = rule.ToPort;
            if (protocol is RuleProtocol.Icmp or RuleProtocol.Any)
            {
                if (from is not null || to is not null)
                {
                    throw Invalid($"{field}: ports apply to tcp and udp only, not {rule.Protocol}");
                }
            }
            else if (from is null)
            {
                if (to is not null)
                {
                    throw Invalid($"{field}.toPort {to} is given without a fromPort");
                }
            }
            else
            {
                to ??= from;
                if (from is < 1 or > 65535)
                {
                    throw Invalid($"{field}.fromPort {from} is out of range 1–65535");
                }

                if (to is < 1 or > 65535)
                {
                    throw Invalid($"{field}.toPort {to} is out of range 1–65535");
                }

                if (from > to)
                {
                    throw Invalid($"{field}: fromPort {from} is greater than toPort {to}");
                }
            }

            result.Add(new ValidRule(protocol, from, to, source));
        }

        return result.MoveToImmutable();
    }

    private static bool IsHostAddress(Ipv4Prefix cidr, Ipv4Address address) =>
        cidr.Contains(address) && address != cidr.Network && address != cidr.Broadcast;

    private static void EnsureAtMost(string what, string field, int count, int max)
    {
        if (count > max)
        {
            throw Invalid(string.Create(CultureInfo.InvariantCulture, $"{what}: {field} has {count} entries, more than {max}"));
        }
    }

    private static ImmutableArray<T> OrEmpty<T>(ImmutableArray<T> items) => items.IsDefault ? [] : items;

    private static HypervisorException Invalid(string message) => new(HypervisorErrorKind.InvalidRequest, message);

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex MacAddress();
}
