using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary><c>fabricctl host list|get|cordon|uncordon|forget</c>.</summary>
internal static class HostCommands
{
    public static Command Create(GlobalOptions global, CliIo io)
    {
        var host = new Command("host", "Hosts: the machines VMs run on");
        host.Subcommands.Add(List(global, io));
        host.Subcommands.Add(Get(global, io));
        host.Subcommands.Add(Change("cordon", "Stop placing new VMs on a host (its VMs keep running)", global, io, (client, name) => client.CordonHostAsync(name)));
        host.Subcommands.Add(Change("uncordon", "Let a cordoned host take new VMs again", global, io, (client, name) => client.UncordonHostAsync(name)));
        host.Subcommands.Add(Forget(global, io));
        return host;
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
                await Json.WriteAsync(context.Io.Out, new { Name = host, Forgotten = true });
            }
            else
            {
                context.Out.WriteLine($"host/{host} forgotten");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Change(string verb, string description, GlobalOptions global, CliIo io, Func<FabricClient, string, Task<HostInfo>> change)
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
