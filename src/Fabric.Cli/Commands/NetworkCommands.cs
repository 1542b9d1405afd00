using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Contracts;
using Spectre.Console;
using static Fabric.Cli.Commands.CommandResults;

namespace Fabric.Cli.Commands;

/// <summary><c>fabricctl net …</c>: virtual networks and their allow rules (docs/networks.md).</summary>
internal static class NetworkCommands
{
    public static Command Create(GlobalOptions global, CliIo io)
    {
        var net = new Command("net", "Virtual networks: isolated, spanning hosts over VXLAN, addresses by DHCP");
        net.Aliases.Add("network");

        var name = NameArgument("NET", "network");
        var cidr = new Option<string>("--cidr") { Description = "The network's IPv4 prefix, /16 to /29 (e.g. 10.10.0.0/24)", HelpName = "CIDR", Required = true, CustomParser = r => Parsers.Parse(r, text => Ipv4Cidr.Parse("cidr", text, Ipv4Cidr.MinPrefixLength, Ipv4Cidr.MaxPrefixLength).ToString()) ?? "" };
        var gateway = new Option<string?>("--gateway") { Description = "The gateway address (default: the prefix's first); never given to a NIC", HelpName = "IP" };
        var dhcp = new Option<string?>("--dhcp") { Description = "Hand guests their address by DHCP (default on)", HelpName = "on|off", CustomParser = r => Parsers.Parse(r, text => Switch("dhcp", text) ? "on" : "off") };
        var mtu = new Option<int?>("--mtu") { Description = $"The MTU of the network's devices and guests (default {NetworkSpec.DefaultMtu}: the underlay's 1500 less VXLAN's 50)", HelpName = "N", CustomParser = r => Parsers.Parse<int?>(r, text => Parsers.PositiveInt("mtu", text)) };
        var exclusive = new Option<bool>("--exclusive") { Description = "Refuse a prefix that overlaps any other network's (overlaps are allowed otherwise: networks are isolated)" };
        var create = new Command("create", "Create a network") { name, cidr, gateway, dhcp, mtu, exclusive };
        create.SetRunAction(global, io, async context =>
        {
            var spec = new NetworkSpec
            {
                Name = context.Get(name)!,
                Cidr = context.Get(cidr)!,
                Gateway = context.Get(gateway),
                Dhcp = context.Get(dhcp) != "off",
                Mtu = context.Get(mtu) ?? NetworkSpec.DefaultMtu,
                Exclusive = context.Get(exclusive),
            }.Validate();
            return await WriteAsync(context, await (await context.ClientAsync()).CreateNetworkAsync(spec), NetworkOutput.Network);
        });
        net.Subcommands.Add(create);

        var getName = NameArgument("NET", "network");
        var get = new Command("get", "One network: its prefix, overlay id, NICs, hosts and rules") { getName };
        get.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).GetNetworkAsync(context.Get(getName)!), NetworkOutput.Network));
        net.Subcommands.Add(get);

        var list = new Command("list", "Every network");
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<NetworkInfo>>(context, await (await context.ClientAsync()).ListNetworksAsync(), NetworkOutput.Networks));
        net.Subcommands.Add(list);

        var deleteName = NameArgument("NET", "network");
        var delete = new Command("delete", "Delete a network (refused while NICs are attached)") { deleteName };
        delete.SetRunAction(global, io, async context =>
        {
            var deleted = context.Get(deleteName)!;
            await (await context.ClientAsync()).DeleteNetworkAsync(deleted);
            return await DoneAsync(context, $"net/{deleted} deleted", new DeletedObject(deleted, Deleted: true));
        });
        net.Subcommands.Add(delete);
        net.Subcommands.Add(Rule(global, io));
        return net;
    }

    /// <summary><c>net rule add|remove|list NET …</c>: allow rules, enforced on every host realizing the network.</summary>
    private static Command Rule(GlobalOptions global, CliIo io)
    {
        var rule = new Command("rule", "Allow rules: once a network has one, only matching new flows reach its NICs");

        var network = NameArgument("NET", "network");
        var protocol = new Option<RuleProtocol>("--protocol") { Description = "tcp, udp, icmp or any", HelpName = "PROTO", Required = true, CustomParser = r => Parsers.Parse(r, ProtocolOf) };
        var port = new Option<(int From, int To)?>("--port") { Description = "A destination port or range (tcp and udp)", HelpName = "P|P-Q", CustomParser = r => Parsers.Parse<(int, int)?>(r, text => NetworkRule.ParsePorts(text)) };
        var source = new Option<string?>("--from") { Description = "Where the traffic may come from (default: anywhere)", HelpName = "CIDR" };
        var add = new Command("add", "Add an allow rule") { network, protocol, port, source };
        add.SetRunAction(global, io, async context =>
        {
            var ports = context.Get(port);
            var spec = new NetworkRule { Protocol = context.Get(protocol), FromPort = ports?.From, ToPort = ports?.To, Source = context.Get(source) ?? "0.0.0.0/0" }.Validate();
            var added = await (await context.ClientAsync()).AddNetworkRuleAsync(context.Get(network)!, spec);
            return await WriteAsync(context, added, (console, r) => console.WriteLine($"rule {r.Id} added: {r}"));
        });
        rule.Subcommands.Add(add);

        var removeNetwork = NameArgument("NET", "network");
        var id = new Argument<int>("ID") { Description = "The rule's id (net rule list)", CustomParser = r => Parsers.Parse(r, text => Parsers.PositiveInt("id", text)) };
        var remove = new Command("remove", "Remove an allow rule") { removeNetwork, id };
        remove.SetRunAction(global, io, async context =>
        {
            var target = context.Get(removeNetwork)!;
            await (await context.ClientAsync()).RemoveNetworkRuleAsync(target, context.Get(id));
            return await DoneAsync(context, $"net/{target} rule {context.Get(id)} removed", new RemovedRule(target, context.Get(id), Removed: true));
        });
        rule.Subcommands.Add(remove);

        var listNetwork = NameArgument("NET", "network");
        var list = new Command("list", "A network's allow rules") { listNetwork };
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
        {
            var info = await (await context.ClientAsync()).GetNetworkAsync(context.Get(listNetwork)!);
            return await WriteAsync<IReadOnlyList<NetworkRule>>(context, info.Rules, NetworkOutput.Rules);
        });
        rule.Subcommands.Add(list);
        return rule;
    }

    private static RuleProtocol ProtocolOf(string text) => text.ToLowerInvariant() switch
    {
        "any" => RuleProtocol.Any,
        "tcp" => RuleProtocol.Tcp,
        "udp" => RuleProtocol.Udp,
        "icmp" => RuleProtocol.Icmp,
        _ => throw FabricException.InvalidSpec("protocol", $"'{Names.Printable(text)}' is not tcp, udp, icmp or any"),
    };

    private static bool Switch(string field, string text) => text.ToLowerInvariant() switch
    {
        "on" or "true" or "yes" => true,
        "off" or "false" or "no" => false,
        _ => throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not on or off"),
    };
}
