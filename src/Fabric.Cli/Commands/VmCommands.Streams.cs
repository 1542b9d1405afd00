using System.CommandLine;
using Fabric.Cli.Output;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary><c>vm watch [--count N]</c>: fleet events as lines (or JSON objects, one per line) until Ctrl-C.</summary>
    private static Command Watch(GlobalOptions global, CliIo io)
    {
        var count = new Option<int?>("--count")
        {
            Description = "Stop after N events",
            HelpName = "N",
            CustomParser = r => Parsers.Parse<int?>(r, text => Parsers.PositiveInt("count", text)),
        };
        var command = new Command("watch", "Print fleet events (VM placements, state changes, deletions, host state changes) as they happen") { count };
        command.SetRunAction(global, io, async context =>
        {
            var limit = context.Get(count);
            var seen = 0;
            var client = await context.ClientAsync();
            await foreach (var fleetEvent in client.WatchAsync(context.CancellationToken))
            {
                await io.Out.WriteLineAsync(context.Json ? Json.Serialize(fleetEvent, indented: false) : EventOutput.Line(fleetEvent));
                await io.Out.FlushAsync(context.CancellationToken);
                if (++seen == limit)
                {
                    break;
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// <c>vm console NAME [--follow] [--send LINE]</c>: the guest's serial console, without the terminal controls the
    /// guest sent (a guest must not be able to query or drive the operator's terminal).
    /// </summary>
    private static Command ConsoleCommand(GlobalOptions global, CliIo io)
    {
        var name = NameArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new console lines until Ctrl-C" };
        var send = new Option<string?>("--send") { Description = "Type LINE (and Enter) into the console, then exit", HelpName = "LINE" };
        var command = new Command("console", "Print a VM's serial console, or type a line into it") { name, follow, send };
        command.Validators.Add(result =>
        {
            if (result.GetResult(send) is not null && result.GetValue(follow))
            {
                result.AddError("send: --send types one line and exits; it cannot be combined with --follow");
            }
        });
        command.SetRunAction(global, io, async context =>
        {
            var vm = context.Get(name)!;
            var client = await context.ClientAsync();
            if (context.Get(send) is { } line)
            {
                await client.SendConsoleAsync(vm, line);
                return ExitCodes.Success;
            }

            await foreach (var output in client.ConsoleAsync(vm, context.Get(follow), context.CancellationToken))
            {
                await io.Out.WriteLineAsync(TerminalText.Strip(output));
                await io.Out.FlushAsync(context.CancellationToken);
            }

            // Following ends only when cancelled; ConsoleAsync then completes rather than throwing.
            return context.CancellationToken.IsCancellationRequested ? ExitCodes.Interrupted : ExitCodes.Success;
        });
        return command;
    }
}
