using System.CommandLine;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli;

/// <summary>One command's invocation: its parsed values, its output, and (made on first use) its fabric connection.</summary>
internal sealed class CommandContext : IAsyncDisposable
{
    /// <summary>How long connecting may take before the fabric counts as unavailable.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);

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

    /// <summary>
    /// Connects on first use. A fabric that does not answer within <see cref="ConnectTimeout"/> is <c>unavailable</c>:
    /// the Orleans client would otherwise keep retrying an unreachable gateway for minutes.
    /// </summary>
    public async Task<FabricClient> ClientAsync()
    {
        if (_client is not null)
        {
            return _client;
        }

        var connection = Connection();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            return _client = await FabricClient.ConnectAsync(connection, timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !CancellationToken.IsCancellationRequested)
        {
            var where = connection.Redis is null
                ? $"a development silo on gateway port {connection.GatewayPort}"
                : $"cluster '{connection.ClusterId}' through Redis {connection.Redis}";
            throw FabricException.Unavailable($"cannot reach the fabric ({where}) within {ConnectTimeout.TotalSeconds:0}s");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }
}
