using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Fabric.Client;
using StackExchange.Redis;

namespace Fabric.TestSupport;

/// <summary>
/// A real redis-server run as <c>./fabric up</c> runs it: TLS only (its certificate from the environment's CA), a random
/// password in a 0600 file, started from a 0600 config file in its 0700 directory; on a free loopback port (and, for
/// the namespaces topology, on the bridge address too), with append-only persistence so it can be restarted with its
/// data.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory;
    private readonly TestPki _pki;
    private ChildProcess? _process;

    private RedisServer(string directory, TestPki pki, int port, IReadOnlyList<string> addresses)
    {
        _directory = directory;
        _pki = pki;
        Port = port;
        Addresses = addresses;
    }

    public int Port { get; }

    /// <summary>Where clients in this (the root) network namespace connect.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Every address it listens on: 127.0.0.1 first.</summary>
    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The file holding the password (mode 0600), as <c>.fabric/redis.password</c>.</summary>
    public string PasswordFile => Path.Combine(_directory, "redis.password");

    /// <summary>The CA bundle its certificate chains to.</summary>
    public string CaFile => _pki.CaFile;

    /// <summary>
    /// Starts a server listening on 127.0.0.1 and on <paramref name="moreAddresses"/> (a bridge address, so that
    /// processes in network namespaces reach it), with a certificate <paramref name="pki"/> issues.
    /// </summary>
    public static async Task<RedisServer> StartAsync(string directory, IEnumerable<string> moreAddresses, TestPki pki)
    {
        ArgumentNullException.ThrowIfNull(pki);
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var server = new RedisServer(directory, pki, Ports.Free(), ["127.0.0.1", .. moreAddresses]);
        server.WriteConfig();
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>host:port for a client that reaches Redis at <paramref name="address"/>.</summary>
    public string ConnectionStringAt(string address) => $"{address}:{Port}";

    /// <summary>What a test's own Redis client connects with: the password and TLS the silos use.</summary>
    public ConfigurationOptions ClientOptions() => FabricRedis.Options(ConnectionString, PasswordFile, FabricTrust.Load("CaFile", CaFile));

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

    private string ConfigFile => Path.Combine(_directory, "redis.conf");

    private void WriteConfig()
    {
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var (certificate, key) = _pki.IssueHost("redis", [.. Addresses.Select(IPAddress.Parse)]);
        WritePrivate(PasswordFile, password + "\n");

        // port 0: plaintext off. Clients present no certificate; the password authenticates them (docs/tls.md).
        WritePrivate(ConfigFile, string.Join('\n', [
            "port 0",
            $"tls-port {Port.ToString(CultureInfo.InvariantCulture)}",
            $"bind {string.Join(' ', Addresses)}",
            $"tls-cert-file {certificate}",
            $"tls-key-file {key}",
            $"tls-ca-cert-file {_pki.CaFile}",
            "tls-auth-clients no",
            $"requirepass {password}",
            $"dir {_directory}",
            "appendonly yes",
            "save \"\"",
            "daemonize no",
            ""]));
    }

    private static void WritePrivate(string path, string text)
    {
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(path, text);
    }

    private async Task StartProcessAsync()
    {
        _process = ChildProcess.Start("redis-server", [ConfigFile], new Dictionary<string, string>(), Path.Combine(_directory, "redis.log"));
        await _process.WaitForOutputAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
    }
}
