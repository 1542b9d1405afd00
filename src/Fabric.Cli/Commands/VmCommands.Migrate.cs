using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm migrate NAME [--to HOST] [--wait] [--cancel] [--downtime-limit MS] [--bandwidth SIZE/s] [--auto-converge] [--postcopy]</c>.</summary>
    private static Command Migrate(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var to = new Option<string?>("--to")
        {
            Description = "The target host (default: the scheduler picks one, honouring capacity, selectors, cordons and anti-affinity)",
            HelpName = "HOST",
            CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("to", text)),
        };
        var wait = new Option<bool>("--wait") { Description = "Follow the migration to its end, with a progress bar, and print its result" };
        var cancel = new Option<bool>("--cancel") { Description = "Cancel the VM's migration under way (any phase before the switch-over); the VM stays on its source" };
        var downtime = new Option<int?>("--downtime-limit")
        {
            Description = "The longest guest pause QEMU may plan for the final copy, in milliseconds (default 300)",
            HelpName = "MS",
            CustomParser = r => Parsers.Parse<int?>(r, text => Parsers.PositiveInt("downtimeLimit", text)),
        };
        var bandwidth = new Option<long?>("--bandwidth")
        {
            Description = "A cap on the migration stream, e.g. 100Mi/s (default: unlimited)",
            HelpName = "SIZE/s",
            CustomParser = r => Parsers.Parse<long?>(r, text => Parsers.BytesPerSecond("bandwidth", text)),
        };
        var autoConverge = new Option<bool>("--auto-converge") { Description = "Throttle a guest that dirties memory faster than it can be sent" };
        var postcopy = new Option<bool>("--postcopy") { Description = "Switch to post-copy if pre-copy does not finish within its budget (needs userfaultfd on the target)" };
        var command = new Command("migrate", "Live-migrate a running or paused VM to another host") { name, to, wait, cancel, downtime, bandwidth, autoConverge, postcopy };
        command.Validators.Add(result =>
        {
            if (result.GetValue(cancel) && (result.GetResult(to) is not null || result.GetResult(downtime) is not null || result.GetResult(bandwidth) is not null || result.GetValue(autoConverge) || result.GetValue(postcopy)))
            {
                result.AddError("cancel: --cancel takes no migration options");
            }
        });
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var vm = context.Get(name)!;
            MigrationInfo info;
            if (context.Get(cancel))
            {
                info = await client.CancelMigrationAsync(vm);
                if (context.Get(wait))
                {
                    info = await client.WaitForMigrationAsync(vm, cancellationToken: context.CancellationToken);
                }
            }
            else
            {
                var request = new MigrationRequest
                {
                    TargetHost = context.Get(to),
                    DowntimeLimitMs = context.Get(downtime),
                    BandwidthBytesPerSecond = context.Get(bandwidth),
                    AutoConverge = context.Get(autoConverge),
                    Postcopy = context.Get(postcopy),
                };
                info = await client.MigrateVmAsync(vm, request);
                if (context.Get(wait))
                {
                    info = await MigrationProgressDisplay.RunAsync(io, $"migrate {vm}", progress => client.WaitForMigrationAsync(vm, progress, context.CancellationToken));
                }
            }

            if (context.Json)
            {
                await Json.WriteAsync(io.Out, info);
            }
            else
            {
                MigrationOutput.Result(context.Out, info);
            }

            return info.Phase is MigrationPhase.Failed || (info.Phase is MigrationPhase.Cancelled && !context.Get(cancel)) ? ExitCodes.Failure : ExitCodes.Success;
        });
        return command;
    }
}
