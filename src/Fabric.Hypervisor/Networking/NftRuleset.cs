using System.Globalization;
using System.Text;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// The nftables text of one network, made only of checked values (<see cref="ValidPlan"/>): device names derived from
/// the VNI, addresses and prefixes printed from their parsed form, ports as numbers, protocols from a fixed set.
/// <list type="bullet">
/// <item><c>table inet fabnet-ID</c>: <b>input</b> lets the network reach this namespace only for DHCP; <b>forward</b>
/// drops whatever would be routed into or out of the bridge and, when the plan has rules, sends the bridged traffic
/// (which passes the inet hooks through bridge netfilter) to <b>allow</b>: replies, then one accept per rule, then drop.
/// With rules, <b>prerouting</b> puts the network's traffic in a conntrack zone of its own, so two networks with
/// the same addresses on one host never share a connection's state.</item>
/// <item><c>table bridge fabnet-ID</c> (with DHCP): DHCP and ARP for the gateway never cross the VXLAN device, so each
/// host's dnsmasq, all holding the same gateway address, serves only its own guests.</item>
/// </list>
/// Applied as one transaction that replaces both tables (an existing table is deleted and made again in the same
/// <c>nft -f</c>), so the network is never without its rules in between.
/// </summary>
internal static class NftRuleset
{
    /// <summary>The conntrack zone of a network's bridged traffic: 1–65535 (zone 0 is everyone else's).</summary>
    public static int ConntrackZone(int vni) => 1 + ((vni - 1) % 65535);

    public static string Replace(ValidPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var table = NetworkNames.Table(plan.Vni);
        var bridge = Quoted(plan.Bridge);
        var text = new StringBuilder();
        text.Append(Remove("inet", table));
        text.Append(Remove("bridge", table));
        text.Append(Line($"table inet {table} {{"));
        var hasRules = !plan.Rules.IsEmpty;
        if (hasRules)
        {
            text.Append(Line("\tchain prerouting {"));
            text.Append(Line("\t\ttype filter hook prerouting priority raw; policy accept;"));
            text.Append(Line($"\t\tiifname {bridge} ct zone set {ConntrackZone(plan.Vni)}"));
            text.Append(Line("\t}"));
        }

        text.Append(Line("\tchain input {"));
        text.Append(Line("\t\ttype filter hook input priority filter; policy accept;"));
        if (plan.Dhcp)
        {
            text.Append(Line($"\t\tiifname {bridge} udp dport 67 accept"));
        }

        text.Append(Line($"\t\tiifname {bridge} drop"));
        text.Append(Line("\t}"));
        text.Append(Line("\tchain forward {"));
        text.Append(Line("\t\ttype filter hook forward priority filter; policy accept;"));
        text.Append(Line($"\t\tiifname {bridge} oifname != {bridge} drop"));
        text.Append(Line($"\t\toifname {bridge} iifname != {bridge} drop"));
        if (hasRules)
        {
            // What is left with the bridge as iifname is bridged between the network's ports.
            text.Append(Line($"\t\tiifname {bridge} jump allow"));
        }

        text.Append(Line("\t}"));
        if (hasRules)
        {
            text.Append(Line("\tchain allow {"));
            text.Append(Line("\t\tct state established,related accept"));
            foreach (var rule in plan.Rules)
            {
                text.Append(Line($"\t\t{Match(rule)} accept"));
            }

            // The rules are IPv4; IPv6 is not offered, and may not go around them. ARP is neither, and flows.
            text.Append(Line("\t\tmeta nfproto { ipv4, ipv6 } drop"));
            text.Append(Line("\t}"));
        }

        text.Append(Line("}"));
        if (plan.Dhcp)
        {
            var vxlan = Quoted(plan.Vxlan);
            text.Append(Line($"table bridge {table} {{"));
            text.Append(Line("\tchain prerouting {"));
            text.Append(Line("\t\ttype filter hook prerouting priority filter; policy accept;"));
            AppendHostLocal(text, $"iifname {vxlan}", plan.Gateway);
            text.Append(Line("\t}"));
            text.Append(Line("\tchain postrouting {"));
            text.Append(Line("\t\ttype filter hook postrouting priority filter; policy accept;"));
            AppendHostLocal(text, $"oifname {vxlan}", plan.Gateway);
            text.Append(Line("\t}"));
            text.Append(Line("}"));
        }

        return text.ToString();
    }

    /// <summary>Deletes both tables of network <paramref name="vni"/>; harmless when they are not there.</summary>
    public static string Delete(int vni)
    {
        var table = NetworkNames.Table(vni);
        return Remove("inet", table) + Remove("bridge", table);
    }

    /// <summary>What one rule matches (besides the bridge).</summary>
    internal static string Match(ValidRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);

        // "ip saddr 0.0.0.0/0" says nothing more than "IPv4".
        var source = rule.Source.Length == 0 ? "meta nfproto ipv4" : $"ip saddr {rule.Source}";
        return rule.Protocol switch
        {
            RuleProtocol.Tcp or RuleProtocol.Udp when rule.FromPort is { } from && rule.ToPort is { } to =>
                $"{source} {Protocol(rule.Protocol)} dport {Ports(from, to)}",
            RuleProtocol.Tcp or RuleProtocol.Udp or RuleProtocol.Icmp => $"{source} ip protocol {Protocol(rule.Protocol)}",
            _ => source,
        };
    }

    private static void AppendHostLocal(StringBuilder text, string port, Ipv4Address gateway)
    {
        text.Append(Line($"\t\t{port} udp dport {{ 67, 68 }} drop"));
        text.Append(Line($"\t\t{port} arp saddr ip {gateway} drop"));
        text.Append(Line($"\t\t{port} arp daddr ip {gateway} drop"));
    }

    /// <summary>Makes the table if it is missing, then deletes it: a delete that cannot fail.</summary>
    private static string Remove(string family, string table) => Line($"table {family} {table} {{") + Line("}") + Line($"delete table {family} {table}");

    private static string Protocol(RuleProtocol protocol) => protocol switch
    {
        RuleProtocol.Tcp => "tcp",
        RuleProtocol.Udp => "udp",
        RuleProtocol.Icmp => "icmp",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null),
    };

    private static string Ports(int from, int to) =>
        from == to ? from.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{from}-{to}");

    private static string Quoted(string name) => $"\"{name}\"";

    private static string Line(string text) => text + "\n";
}
