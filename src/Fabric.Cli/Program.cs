using System.CommandLine;
using System.CommandLine.Invocation;
using Fabric.Cli.Commands;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.Cli;

/// <summary>
/// <c>fabricctl</c>: the root command, its global options, and the one place failures become
/// <c>error: &lt;code&gt;: &lt;message&gt;</c> and an exit code.
/// </summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => RunAsync(args, CliIo.FromConsole());

    /// <summary>Parses and runs one command line against <paramref name="io"/>; returns the exit code.</summary>
    internal static async Task<int> RunAsync(string[] args, CliIo io, CancellationToken cancellationToken = default)
    {
        var parse = CreateRootCommand(io).Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            await io.Error.WriteLineAsync(UsageError(parse));
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = io.Out,
            Error = io.Error,

            // Every action catches its own failures (SetRunAction); nothing unexpected may print a stack trace.
            EnableDefaultExceptionHandler = false,

            // Signals are handled by Interrupt, which cancels the command and gives it a moment to end cleanly.
            ProcessTerminationTimeout = null,
        };

        using var interrupt = new Interrupt(cancellationToken);
        var running = parse.InvokeAsync(invocation, interrupt.Token);
        await Task.WhenAny(running, interrupt.Signalled);
        if (!running.IsCompleted)
        {
            // Give the command a moment to end cleanly (its pending request is cancelled with it).
            await Task.WhenAny(running, Task.Delay(Interrupt.Grace, CancellationToken.None));
        }

        return interrupt.Signalled.IsCompleted || !running.IsCompletedSuccessfully ? interrupt.ExitCode : running.Result;
    }

    /// <summary>The one line a malformed command line gets: every parse error, joined.</summary>
    internal static string UsageError(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return ErrorLine.Format(ErrorCodes.InvalidSpec, string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.'))));
    }

    internal static RootCommand CreateRootCommand(CliIo io)
    {
        var global = new GlobalOptions();
        var root = new RootCommand("fabricctl: operate a Fabric cluster's hosts and VMs");
        foreach (var option in global.All)
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(HostCommands.Create(global, io));
        root.Subcommands.Add(VmCommands.Create(global, io));
        foreach (var storage in StorageCommands.Create(global, io))
        {
            root.Subcommands.Add(storage);
        }

        root.Subcommands.Add(NetworkCommands.Create(global, io));
        foreach (var access in AccessCommands.Create(global, io))
        {
            root.Subcommands.Add(access);
        }

        return root;
    }

    /// <summary>
    /// Wraps a command body: gives it a <see cref="CommandContext"/>, disposes its API client afterwards, and turns
    /// every failure into one line on stderr and an exit code.
    /// </summary>
    internal static void SetRunAction(this Command command, GlobalOptions global, CliIo io, Func<CommandContext, Task<int>> body)
    {
        command.SetAction(async (ParseResult result, CancellationToken cancellationToken) =>
        {
            try
            {
                using var context = new CommandContext(result, global, io, cancellationToken);
                return await body(context);
            }
            catch (FabricException ex)
            {
                await io.Error.WriteLineAsync(ErrorLine.Format(ex));
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException ex)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return ExitCodes.Interrupted;
                }

                await io.Error.WriteLineAsync(ErrorLine.Format(ex));
                return ExitCodes.Failure;
            }
#pragma warning disable CA1031 // The CLI's last line of defence: a bug must still end as one error line, not a stack trace.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                await io.Error.WriteLineAsync(ErrorLine.Format(ex));
                return ExitCodes.Failure;
            }
        });
    }
}

internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The fabric refused or failed the request (any <see cref="FabricException"/>), or part of a bulk operation failed.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is malformed.</summary>
    public const int Usage = 2;

    /// <summary>Ctrl-C (128 + SIGINT).</summary>
    public const int Interrupted = 130;

    /// <summary>SIGTERM (128 + 15).</summary>
    public const int Terminated = 143;
}
