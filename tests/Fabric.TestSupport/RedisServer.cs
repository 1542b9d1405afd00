namespace Fabric.TestSupport;

/// <summary>
/// A real redis-server on a free loopback port (and, for the namespaces topology, on the bridge address too), with
/// append-only persistence so it can be restarted with its data.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory;
    private ChildProcess? _process;

    private RedisServer(string directory, int port, IReadOnlyList<string> addresses)
    {
        _directory = directory;
        Port = port;
        Addresses = addresses;
    }

    public int Port { get; }

    /// <summary>Where clients in this (the root) network namespace connect.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Every address it listens on: 127.0.0.1 first.</summary>
    public IReadOnlyList<string> Addresses { get; }

    public static Task<RedisServer> StartAsync(string directory) => StartAsync(directory, []);

    /// <summary>
    /// Starts a server listening on 127.0.0.1 and on <paramref name="moreAddresses"/> (a bridge address, so that
    /// processes in network namespaces reach it).
    /// </summary>
    public static async Task<RedisServer> StartAsync(string directory, IEnumerable<string> moreAddresses)
    {
        Directory.CreateDirectory(directory);
        var server = new RedisServer(directory, Ports.Free(), ["127.0.0.1", .. moreAddresses]);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>host:port for a client that reaches Redis at <paramref name="address"/>.</summary>
    public string ConnectionStringAt(string address) => $"{address}:{Port}";

    /// <summary>Kills the server and starts it again on the same port and data (a Redis restart).</summary>
    /// <summary>
    /// Restarts Redis as an operator would: SIGTERM, on which it flushes its append-only file before exiting. (A kill
    /// loses up to the last second of writes with <c>appendfsync everysec</c>: a crash, not a restart.)
    /// </summary>
    public async Task RestartAsync()
    {
        if (_process is not null)
        {
            await _process.StopAsync(TimeSpan.FromSeconds(10));
            await _process.DisposeAsync();
        }

        await StartProcessAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    private async Task StartProcessAsync()
    {
        // Protected mode (on without a password) accepts loopback clients only; a bridge address serves the
        // namespaces this environment made, and nothing else reaches it.
        var protectedMode = Addresses.Count > 1 ? "no" : "yes";
        _process = ChildProcess.Start(
            "redis-server",
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", .. Addresses, "--protected-mode", protectedMode, "--dir", _directory, "--appendonly", "yes", "--save", "", "--daemonize", "no"],
            new Dictionary<string, string>(),
            Path.Combine(_directory, "redis.log"));
        await _process.WaitForOutputAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
    }
}
