using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Client;
using Spectre.Console;

namespace Fabric.Cli;

/// <summary>One command's invocation: its parsed values, its output, and (made on first use) its fabric connection.</summary>
internal sealed class CommandContext : IAsyncDisposable
{
    private readonly ParseResult _result;
    private readonly GlobalOptions _global;
    private FabricClient? _client;
    private IAnsiConsole? _out;

    public CommandContext(ParseResult result, GlobalOptions global, CliIo io, CancellationToken cancellationToken)
    {
        _result = result;
        _global = global;
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

    /// <summary>The connection the environment describes, with the global options' overrides.</summary>
    public FabricConnection Connection()
    {
        var connection = FabricConnection.FromEnvironment();
        if (Get(_global.Redis) is { Length: > 0 } redis)
        {
            connection = connection with { Redis = redis };
        }

        if (Get(_global.Cluster) is { Length: > 0 } cluster)
        {
            connection = connection with { ClusterId = cluster };
        }

        if (Get(_global.GatewayPort) is { } port)
        {
            connection = connection with { GatewayPort = port };
        }

        return connection;
    }

    /// <summary>Connects on first use; a fabric that does not answer in time is <c>unavailable</c>.</summary>
    public async Task<FabricClient> ClientAsync() =>
        _client ??= await FabricClient.ConnectAsync(Connection(), CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }
}
