using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Client;
using Spectre.Console;

namespace Fabric.Cli;

/// <summary>One command's invocation: its parsed values, its output, and (made on first use) its API client.</summary>
internal sealed class CommandContext : IDisposable
{
    private readonly ParseResult _result;
    private FabricApiClient? _client;
    private IAnsiConsole? _out;

    public CommandContext(ParseResult result, GlobalOptions global, CliIo io, CancellationToken cancellationToken)
    {
        _result = result;
        Io = io;
        CancellationToken = cancellationToken;
        Format = result.GetValue(global.Output);
    }

    public CliIo Io { get; }

    public CancellationToken CancellationToken { get; }

    public OutputFormat Format { get; }

    public bool Json => Format == OutputFormat.Json;

    /// <summary>Standard output for tables.</summary>
    public IAnsiConsole Out => _out ??= Consoles.ForTables(Io.Out, Io.OutIsTerminal);

    public T? Get<T>(Option<T> option) => _result.GetValue(option);

    public T? Get<T>(Argument<T> argument) => _result.GetValue(argument);

    /// <summary>
    /// The API client of the fabric the environment describes (<c>FABRIC_API</c> and <c>FABRIC_TOKEN</c>, else the
    /// file <c>fabricctl login</c> saved), made on first use; nothing is sent until a command calls it.
    /// </summary>
    public Task<FabricApiClient> ClientAsync() => Task.FromResult(_client ??= Connect(FabricApiConnection.FromEnvironment(Io.Variables)));

    /// <summary>A client of <paramref name="connection"/> (through the test's handler, when there is one); the caller disposes it.</summary>
    public FabricApiClient Connect(FabricApiConnection connection) =>
        Io.ApiHandler is { } handler ? new FabricApiClient(connection, handler()) : new FabricApiClient(connection);

    public void Dispose() => _client?.Dispose();
}
