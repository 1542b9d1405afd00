using System.CommandLine;
using System.Diagnostics;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm snapshot create|list|restore|delete NAME [SNAPSHOT]</c>: snapshots with memory (docs/snapshots.md).</summary>
    private static Command Snapshot(GlobalOptions global, CliIo io)
    {
        var snapshot = new Command("snapshot", "Snapshots of a VM's memory and devices, taken while the guest keeps running");
        snapshot.Subcommands.Add(CreateSnapshot(global, io));
        snapshot.Subcommands.Add(ListSnapshots(global, io));
        snapshot.Subcommands.Add(RestoreSnapshot(global, io));
        snapshot.Subcommands.Add(DeleteSnapshot(global, io));
        return snapshot;
    }

    private static Argument<string> SnapshotArgument() => new("SNAPSHOT")
    {
        Description = "The snapshot's name (lowercase letters, digits and '-')",
        CustomParser = r => Parsers.Parse(r, text => Parsers.Name("snapshot", text)),
    };

    private static Command CreateSnapshot(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var snapshot = SnapshotArgument();
        var command = new Command("create", "Snapshot a Running or Paused VM (memory and device state) on its host; the guest keeps running") { name, snapshot };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var taken = await client.CreateSnapshotAsync(context.Get(name)!, context.Get(snapshot)!);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, taken);
            }
            else
            {
                SnapshotOutput.Details(context.Out, taken);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ListSnapshots(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var command = new Command("list", "A VM's snapshots, oldest first") { name };
        command.Aliases.Add("ls");
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var vm = context.Get(name)!;
            var snapshots = await client.ListSnapshotsAsync(vm);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, snapshots);
            }
            else if (snapshots.IsEmpty)
            {
                await io.Error.WriteLineAsync($"VM {vm} has no snapshots.");
            }
            else
            {
                SnapshotOutput.List(context.Out, snapshots);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command RestoreSnapshot(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var snapshot = SnapshotArgument();
        var command = new Command("restore", "Return a VM to a snapshot: a new instance starts from it on its host, running if the guest ran when it was taken, else paused") { name, snapshot };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var started = Stopwatch.GetTimestamp();
            var vm = await client.RestoreSnapshotAsync(context.Get(name)!, context.Get(snapshot)!);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, vm);
            }
            else
            {
                SnapshotOutput.Restored(context.Out, vm, context.Get(snapshot)!, Stopwatch.GetElapsedTime(started));
            }

            return vm.State is VmState.Running or VmState.Paused or VmState.Starting ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }

    private static Command DeleteSnapshot(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var snapshot = SnapshotArgument();
        var command = new Command("delete", "Delete a snapshot: its file on its host and its record") { name, snapshot };
        command.Aliases.Add("rm");
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var (vm, deleted) = (context.Get(name)!, context.Get(snapshot)!);
            await client.DeleteSnapshotAsync(vm, deleted);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, new DeletedSnapshot(vm, deleted, Deleted: true));
            }
            else
            {
                await io.Out.WriteLineAsync($"Snapshot {deleted} of VM {vm} deleted.");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>What <c>vm snapshot delete -o json</c> prints.</summary>
    internal sealed record DeletedSnapshot(string Vm, string Snapshot, bool Deleted);
}
