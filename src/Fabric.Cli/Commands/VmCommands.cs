using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

/// <summary>
/// <c>fabricctl vm …</c>: create (VmCommands.Create.cs), lifecycle actions one by one or by selector
/// (VmCommands.Lifecycle.cs), get and list (here), watch and console (VmCommands.Streams.cs).
/// </summary>
internal static partial class VmCommands
{
    public static Command Create(GlobalOptions global, CliIo io)
    {
        var vm = new Command("vm", "Virtual machines");
        vm.Subcommands.Add(CreateCommand(global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Start, "Start a VM (returns once its process runs)", global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Stop, "Stop a VM (ACPI power-off, then quit, then kill) and wait until it is Stopped", global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Pause, "Pause a running VM's vCPUs", global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Resume, "Resume a paused VM", global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Reboot, "Reboot a running VM's guest", global, io));
        vm.Subcommands.Add(Lifecycle(VmAction.Delete, "Delete a stopped (or never started) VM and free its reservation", global, io));
        vm.Subcommands.Add(Migrate(global, io));
        vm.Subcommands.Add(Snapshot(global, io));
        vm.Subcommands.Add(Disk(global, io));
        vm.Subcommands.Add(Nic(global, io));
        vm.Subcommands.Add(Get(global, io));
        vm.Subcommands.Add(List(global, io));
        vm.Subcommands.Add(Watch(global, io));
        vm.Subcommands.Add(ConsoleCommand(global, io));
        return vm;
    }

    private static Argument<string> NameArgument() => new("NAME")
    {
        Description = "The VM's name",
        CustomParser = r => Parsers.Parse(r, text => Parsers.Name("name", text)),
    };

    private static Option<LabelSelector?> SelectorOption(string description, bool allowEmpty) => new("--selector", "-l")
    {
        Description = description,
        HelpName = "k=v[,k=v]",
        CustomParser = r => Parsers.Parse(r, text => allowEmpty ? LabelSelector.Parse("selector", text) : Parsers.Selector("selector", text)),
    };

    private static Command Get(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var command = new Command("get", "One VM in full: state and why, host, process, placement, history") { name };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var vm = await client.GetVmAsync(context.Get(name)!);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, vm);
            }
            else
            {
                VmOutput.Details(context.Out, vm);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command List(GlobalOptions global, CliIo io)
    {
        var selector = SelectorOption("Only VMs carrying all these labels", allowEmpty: true);
        var command = new Command("list", "VMs by name, optionally only those matching a label selector") { selector };
        command.Aliases.Add("ls");
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var vms = await client.ListVmsAsync(context.Get(selector));
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, vms);
            }
            else if (vms.IsEmpty)
            {
                await io.Error.WriteLineAsync("No VMs found.");
            }
            else
            {
                VmOutput.List(context.Out, vms);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Prints a bulk operation's per-VM results; exit 1 (with one error line) when any VM failed.</summary>
    private static async Task<int> WriteBulkAsync(CommandContext context, IReadOnlyList<BulkResultView> results)
    {
        if (context.Json)
        {
            await Json.WriteAsync(context.Io.Out, results);
        }
        else
        {
            BulkOutput.Table(context.Out, results);
        }

        if (BulkOutput.FailureLine(results) is { } failure)
        {
            await context.Io.Error.WriteLineAsync(failure);
            return ExitCodes.Failure;
        }

        return ExitCodes.Success;
    }
}
