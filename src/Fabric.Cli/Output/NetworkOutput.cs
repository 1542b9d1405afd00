using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Networks, their rules and NICs as tables for people.</summary>
internal static class NetworkOutput
{
    public static void Networks(IAnsiConsole console, IReadOnlyList<NetworkInfo> networks)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(networks);
        var table = Cells.Table("NAME", "CIDR", "GATEWAY", "DHCP", "MTU", "VNI", "NICS", "HOSTS", "RULES");
        foreach (var network in networks)
        {
            table.AddRow(
                Cells.Of(network.Name),
                Cells.Of(network.Cidr),
                Cells.Of(network.Gateway),
                Cells.Of(network.Dhcp ? "on" : "off"),
                Cells.Of(network.Mtu),
                Cells.Of(network.Vni),
                Cells.Of(network.Nics),
                Cells.Of(Cells.List(network.Hosts.Select(h => h.Host).ToList())),
                Cells.Of(network.Rules.Length));
        }

        console.Write(table);
    }

    public static void Network(IAnsiConsole console, NetworkInfo network)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(network);
        var grid = Cells.Details();
        grid.Row("Name", network.Name);
        grid.Row("CIDR", network.Cidr + (network.Exclusive ? " (exclusive)" : ""));
        grid.Row("Gateway", network.Gateway);
        grid.Row("DHCP", network.Dhcp ? "on" : "off (guests are configured statically)");
        grid.Row("MTU", network.Mtu.ToString(CultureInfo.InvariantCulture));
        grid.Row("VXLAN id", network.Vni.ToString(CultureInfo.InvariantCulture));
        grid.Row("NICs", $"{network.Nics} ({network.FreeAddresses} addresses free)");
        grid.Row("Hosts", Cells.List(network.Hosts.Select(h => $"{h.Host} ({h.Address})").ToList()));
        grid.Row("Rules", network.Rules.IsEmpty ? "none: all traffic between its NICs flows" : string.Join("; ", network.Rules.Select(r => $"{r.Id}: {r}")));
        grid.Row("Created", Cells.Time(network.CreatedAt));
        console.Write(grid);
        if (network.Ports.IsDefaultOrEmpty)
        {
            return;
        }

        console.WriteLine();
        var table = Cells.Table("VM", "SLOT", "IP", "MAC");
        foreach (var port in network.Ports)
        {
            table.AddRow(Cells.Of(port.Vm), Cells.Of(port.Slot), Cells.Of(port.Ip), Cells.Of(port.Mac));
        }

        console.Write(table);
    }

    public static void Rules(IAnsiConsole console, IReadOnlyList<NetworkRule> rules)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(rules);
        var table = Cells.Table("ID", "PROTOCOL", "PORTS", "FROM");
        foreach (var rule in rules)
        {
            table.AddRow(
                Cells.Of(rule.Id),
                Cells.Of(rule.Protocol.ToString().ToLowerInvariant()),
                Cells.Of(rule.FromPort is null ? "any" : rule.FromPort == rule.ToPort ? rule.FromPort.Value.ToString(CultureInfo.InvariantCulture) : $"{rule.FromPort}-{rule.ToPort}"),
                Cells.Of(rule.Source));
        }

        console.Write(table);
    }

    public static string Nics(IReadOnlyList<VmNic> nics) =>
        nics.Count == 0 ? Cells.List([]) : string.Join(", ", nics.Select(n => $"{n.Network} {n.Ip}/{n.PrefixLength} {n.Mac} (slot {n.Slot})"));

    public static string HostNetworks(IReadOnlyList<HostNetwork> networks) =>
        networks.Count == 0 ? Cells.List([]) : string.Join(", ", networks.Select(n => $"{n.Network} (vni {n.Vni}, {n.Bridge}, {n.Taps.Length} tap(s), peers {Cells.List(n.Peers)}{(n.DhcpPid is { } pid ? $", dnsmasq pid {pid}" : "")})"));
}
