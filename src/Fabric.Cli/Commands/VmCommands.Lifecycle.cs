using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm start|stop|pause|resume|reboot|delete NAME</c>, or <c>--selector k=v</c> for every matching VM.</summary>
    private static Command Lifecycle(VmAction action, string description, GlobalOptions global, CliIo io)
    {
        var verb = action.ToString().ToLowerInvariant();
        var name = new Argument<string?>("NAME")
        {
            Description = "The VM's name (or use --selector)",
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("name", text)),
        };
        var selector = SelectorOption($"{char.ToUpperInvariant(verb[0])}{verb[1..]} every VM carrying these labels, with per-VM results", allowEmpty: false);
        var command = new Command(verb, description) { name, selector };
        command.Validators.Add(result => RequireOneTarget(result, name, selector));

        var stopOptions = action == VmAction.Stop ? new StopOptionSet(command) : null;
        var forceDelete = action == VmAction.Delete
            ? new Option<bool>("--force") { Description = "Delete whatever the VM's state: a running process is stopped at once; while its host is Down the record goes now and the host stops the process when it returns" }
            : null;
        if (forceDelete is not null)
        {
            command.Options.Add(forceDelete);
        }

        command.SetRunAction(global, io, async context =>
        {
            var options = stopOptions?.Read(context) ?? StopOptions.Graceful;
            var delete = new DeleteOptions { Force = forceDelete is not null && context.Get(forceDelete) };
            var client = await context.ClientAsync();
            if (context.Get(name) is { } vmName)
            {
                await ActOnOneAsync(context, client, vmName, action, options, delete);
                return ExitCodes.Success;
            }

            var labels = context.Get(selector)!;
            var results = await BulkProgressDisplay.RunAsync(io, verb, progress => ActOnManyAsync(context, client, labels, action, options, delete, progress));
            if (results.IsEmpty && !context.Json)
            {
                await io.Error.WriteLineAsync($"No VMs match {labels}.");
                return ExitCodes.Success;
            }

            return await WriteBulkAsync(context, [.. results.Select(r => BulkResultView.From(r, action))]);
        });
        return command;
    }

    /// <summary>Exactly one of NAME and --selector: a lifecycle command acts on one VM or on a labelled set, never both or neither.</summary>
    internal static void RequireOneTarget(CommandResult result, Argument<string?> name, Option<LabelSelector?> selector)
    {
        var hasName = result.GetResult(name) is { Tokens.Count: > 0 };
        var hasSelector = result.GetResult(selector) is not null;
        if (hasName && hasSelector)
        {
            result.AddError("name: give a VM NAME or --selector, not both");
        }
        else if (!hasName && !hasSelector)
        {
            result.AddError("name: give a VM NAME, or --selector k=v for many VMs");
        }
    }

    private static async Task ActOnOneAsync(CommandContext context, FabricApiClient client, string name, VmAction action, StopOptions options, DeleteOptions delete)
    {
        if (action == VmAction.Delete)
        {
            await client.DeleteVmAsync(name, delete);
            if (context.Json)
            {
                await Json.WriteAsync(context.Io.Out, VmOutput.DeletedJson(name));
            }
            else
            {
                VmOutput.Deleted(context.Out, name);
            }

            return;
        }

        var vm = action == VmAction.Stop
            ? await client.StopVmAsync(name, options, wait: true, context.CancellationToken)
            : await client.ActAsync(name, action, context.CancellationToken);
        await WriteVmAsync(context, vm!);
    }

    private static async Task<ImmutableArray<BulkResult>> ActOnManyAsync(CommandContext context, FabricApiClient client, LabelSelector selector, VmAction action, StopOptions options, DeleteOptions delete, IProgress<BulkProgress>? progress)
    {
        Func<string, Task<VmInfo?>>? operation = action switch
        {
            // RunBulkAsync(selector, action) stops gracefully and deletes normally; --force/--grace need the per-VM call.
            VmAction.Stop when options != StopOptions.Graceful => async name => await client.StopVmAsync(name, options, wait: true, context.CancellationToken),
            VmAction.Delete when delete.Force => async name =>
            {
                await client.DeleteVmAsync(name, delete);
                return null;
            },
            _ => null,
        };
        if (operation is null)
        {
            return await client.RunBulkAsync(selector, action, progress, context.CancellationToken);
        }

        var vms = await client.ListVmsAsync(selector);
        return await FabricBulk.RunBulkAsync([.. vms.Select(v => v.Name)], operation, progress, context.CancellationToken);
    }

    /// <summary><c>vm stop --force --grace SECONDS</c>.</summary>
    private sealed class StopOptionSet
    {
        private readonly Option<bool> _force = new("--force")
        {
            Description = "Stop the process at once, without asking the guest to power off; while the VM's host is Down, record it Stopped and release it from that host now (the host stops the process when it returns)",
        };

        private readonly Option<TimeSpan?> _grace = new("--grace")
        {
            Description = $"Seconds the guest gets to power itself off (default {StopOptions.DefaultGracePeriod.TotalSeconds})",
            HelpName = "SECONDS",
            CustomParser = r => Parsers.Parse<TimeSpan?>(r, text => Parsers.Seconds("grace", text)),
        };

        public StopOptionSet(Command command)
        {
            command.Options.Add(_force);
            command.Options.Add(_grace);
        }

        public StopOptions Read(CommandContext context) => new()
        {
            Force = context.Get(_force),
            GracePeriod = context.Get(_grace) ?? StopOptions.DefaultGracePeriod,
        };
    }
}
