using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary><c>fabricctl host list|get|cordon|uncordon|drain|forget</c>.</summary>
internal static class HostCommands
{
    public static Command Create(GlobalOptions global, CliIo io)
    {
        var host = new Command("host", "Hosts: the machines VMs run on");
        host.Subcommands.Add(List(global, io));
        host.Subcommands.Add(Get(global, io));
        host.Subcommands.Add(Change("cordon", "Stop placing new VMs on a host (its VMs keep running)", global, io, (client, name) => client.CordonHostAsync(name)));
        host.Subcommands.Add(Change("uncordon", "Let a cordoned host take new VMs again", global, io, (client, name) => client.UncordonHostAsync(name)));
        host.Subcommands.Add(Drain(global, io));
        host.Subcommands.Add(Forget(global, io));
        return host;
    }

    private static Command Drain(GlobalOptions global, CliIo io)
    {
        var name = HostArgument();
        var command = new Command("drain", "Cordon a host and live-migrate its VMs away (a VM that can go nowhere is reported and left running)") { name };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var host = context.Get(name)!;
            var results = await BulkProgressDisplay.RunAsync(io, $"drain {host}", progress => client.DrainHostAsync(
                host,
                progress is null ? null : new Progress(progress),
                context.CancellationToken));
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, new DrainOutcome(host, results));
            }
            else
            {
                MigrationOutput.Drain(context.Out, host, results);
            }

            return results.All(r => r.Moved) ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }

    /// <summary>A drain's progress on the bulk progress bar.</summary>
    private sealed class Progress(IProgress<BulkProgress> bar) : IProgress<DrainProgress>
    {
        private int _failed;

        public void Report(DrainProgress value)
        {
            var failed = value.Latest.Moved ? _failed : Interlocked.Increment(ref _failed);
            bar.Report(new BulkProgress(value.Done, failed, value.Total));
        }
    }

    private static Argument<string> HostArgument() => new("HOST")
    {
        Description = "The host's name",
        CustomParser = r => Parsers.Parse(r, text => Parsers.Name("host", text)),
    };

    private static Command List(GlobalOptions global, CliIo io)
    {
        var command = new Command("list", "Every host the fabric knows, Down ones included");
        command.Aliases.Add("ls");
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var hosts = await client.ListHostsAsync();
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, hosts);
            }
            else
            {
                HostOutput.List(context.Out, hosts);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Get(GlobalOptions global, CliIo io)
    {
        var name = HostArgument();
        var command = new Command("get", "One host in full: capacity, allocation, accelerator, images, VMs") { name };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var host = await client.GetHostAsync(context.Get(name)!);
            await Write(context, host, HostOutput.Details);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Forget(GlobalOptions global, CliIo io)
    {
        var name = HostArgument();
        var command = new Command(
            "forget",
            "Forget a Down host: its machine binding, settings and ledger, so another machine may serve its id (refused while it is up or has VMs)") { name };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var host = context.Get(name)!;
            await client.ForgetHostAsync(host);
            if (context.Json)
            {
                await Json.WriteAsync(context.Io.Out, new ForgottenHost(host, Forgotten: true));
            }
            else
            {
                context.Out.WriteLine($"host/{host} forgotten");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Change(string verb, string description, GlobalOptions global, CliIo io, Func<FabricApiClient, string, Task<HostInfo>> change)
    {
        var name = HostArgument();
        var command = new Command(verb, description) { name };
        command.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var host = await change(client, context.Get(name)!);
            await Write(context, host, HostOutput.Changed);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Task Write(CommandContext context, HostInfo host, Action<IAnsiConsole, HostInfo> table)
    {
        if (context.Json)
        {
            return Json.WriteAsync(context.Io.Out, host);
        }

        table(context.Out, host);
        return Task.CompletedTask;
    }
}
