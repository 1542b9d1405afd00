using System.CommandLine;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm disk attach|detach|resize NAME POOL/VOLUME</c>: a VM's disks, changed while it runs (docs/storage.md).</summary>
    private static Command Disk(GlobalOptions global, CliIo io)
    {
        var disk = new Command("disk", "A VM's disks: hot-plug and unplug volumes, grow them");
        disk.Subcommands.Add(DiskChange("attach", "Attach a volume (hot-plugged into a running VM as a virtio-blk disk)", global, io, (client, vm, pool, volume) => client.AttachVolumeAsync(vm, pool, volume)));
        disk.Subcommands.Add(DiskChange("detach", "Detach a volume (the guest must release it); the volume stays in its pool", global, io, (client, vm, pool, volume) => client.DetachVolumeAsync(vm, pool, volume)));
        return disk;
    }

    private static Command DiskChange(string verb, string description, GlobalOptions global, CliIo io, Func<FabricApiClient, string, string, string, Task<VmInfo>> change)
    {
        var name = NameArgument();
        var volume = new Argument<(string Pool, string Volume)>("POOL/VOLUME")
        {
            Description = "The volume, as POOL/VOLUME",
            CustomParser = r => Parsers.Parse(r, text => DiskRequest.Parse("volume", text) is { Volume: { } v } d ? (d.Pool, v) : throw FabricException.InvalidSpec("volume", $"'{Names.Printable(text)}' is not POOL/VOLUME")),
        };
        var command = new Command(verb, description) { name, volume };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var (pool, target) = context.Get(volume);
            var vm = await change(client, context.Get(name)!, pool, target);
            await WriteVmAsync(context, vm);
            return ExitCodes.Success;
        });
        return command;
    }
}
