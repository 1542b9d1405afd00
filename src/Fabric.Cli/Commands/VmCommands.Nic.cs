using System.CommandLine;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm nic attach|detach NAME NET[:IP]</c>: a VM's NICs, changed while it runs (docs/networks.md).</summary>
    private static Command Nic(GlobalOptions global, CliIo io)
    {
        var nic = new Command("nic", "A VM's NICs: hot-plug and unplug virtio-net devices on virtual networks");
        nic.Subcommands.Add(NicChange("attach", "Attach a NIC on a network (hot-plugged into a running VM; the address is allocated, or NET:IP)", global, io, (client, vm, request) => client.AttachNicAsync(vm, request)));
        nic.Subcommands.Add(NicChange("detach", "Detach the VM's NIC on a network (the guest must let it go); its address is freed", global, io, (client, vm, request) => client.DetachNicAsync(vm, request)));
        return nic;
    }

    private static Command NicChange(string verb, string description, GlobalOptions global, CliIo io, Func<FabricApiClient, string, NicRequest, Task<VmInfo>> change)
    {
        var name = NameArgument();
        var network = new Argument<NicRequest>("NET[:IP]")
        {
            Description = "The network (and, to pick one address, NET:IP)",
            CustomParser = r => Parsers.Parse(r, text => NicRequest.Parse("network", text))!,
        };
        var command = new Command(verb, description) { name, network };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var vm = await change(client, context.Get(name)!, context.Get(network)!);
            await WriteVmAsync(context, vm);
            return ExitCodes.Success;
        });
        return command;
    }
}
