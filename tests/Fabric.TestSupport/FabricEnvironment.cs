using System.Globalization;
using System.Net;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.TestSupport;

/// <summary>One host silo process of a <see cref="FabricEnvironment"/>.</summary>
public sealed record SiloHandle(string HostId, ChildProcess Process, int SiloPort, int GatewayPort, string DataDirectory)
{
    /// <summary>The address the silo listens on and advertises (127.0.0.1, or its underlay address).</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>The network namespace the silo (and its QEMUs) run in; null in the loopback topology.</summary>
    public string? Namespace { get; init; }

    /// <summary>The port of the silo's REST API, at <see cref="Address"/>.</summary>
    public int ApiPort { get; init; }

    /// <summary>The base URL of the silo's REST API (HTTPS, with its host certificate).</summary>
    public Uri ApiUrl => new($"https://{Address}:{ApiPort}");
}

/// <summary>
/// A real fabric for end-to-end tests and benchmarks: a redis-server and silo processes (one per host, real QEMU, or
/// simulated hosts for fleet scale) in a private temporary directory. In the <see cref="NetworkTopology.Namespaces"/>
/// topology each silo runs in a network namespace of its own (see <see cref="Underlay"/>). Disposing kills every
/// process it started, QEMU processes included, removes its namespaces and deletes the directory.
/// </summary>
public sealed class FabricEnvironment : IAsyncDisposable
{
    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(90);
    private readonly Dictionary<string, SiloHandle> _silos = new(StringComparer.Ordinal);
    private readonly List<FabricClient> _clients = [];
    private readonly List<ChildProcess> _extraSilos = [];

    private FabricEnvironment(string directory, TestPki pki, RedisServer redis, Underlay? underlay, IReadOnlyDictionary<string, string> siloDefaults)
    {
        Directory = directory;
        Pki = pki;
        var (certificate, key) = pki.IssueHost("test-client", IPAddress.Loopback);
        ClientTls = new FabricTls(pki.CaFile, certificate, key);
        Redis = redis;
        Underlay = underlay;
        SiloDefaults = siloDefaults;
    }

    /// <summary>The environment's private directory (short: VM sockets live under it).</summary>
    public string Directory { get; }

    /// <summary>
    /// The first admin token, which every silo registers from <see cref="AdminTokenFile"/> at start-up (as with
    /// <c>./fabric up</c>'s <c>.fabric/admin.token</c>).
    /// </summary>
    public string AdminToken { get; } = ApiTokens.Format(Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_'));

    public string AdminTokenFile => Path.Combine(Directory, "admin.token");

    /// <summary>The REST API of the first silo started (any silo serves the whole fabric).</summary>
    public Uri ApiUrl => _silos.Values.FirstOrDefault()?.ApiUrl ?? throw new InvalidOperationException("no silo has started");

    public RedisServer Redis { get; }

    /// <summary>The fabric's CA (as <c>.fabric/pki</c>): it signs every silo's certificate, Redis's and the clients'.</summary>
    public TestPki Pki { get; }

    /// <summary>The in-cluster clients' TLS identity (a certificate of <see cref="Pki"/>'s CA).</summary>
    public FabricTls ClientTls { get; }

    /// <summary>An HTTP handler that trusts the API's certificate as <c>fabricctl</c> does (the fabric's CA, nothing else).</summary>
    public SocketsHttpHandler ApiHandler()
    {
        var trust = FabricTrust.Load("CaFile", Pki.CaFile);
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => trust.TrustsServer(certificate, errors);
        return handler;
    }

    public string ClusterId { get; } = "e2e";

    /// <summary>The silos' default service id: it names the persisted keys (grain state, ledgers, catalog).</summary>
    public string ServiceId { get; } = "fabric";

    /// <summary>
    /// Reconciliation runs faster here than in production, so tests of convergence take seconds: hosts report every
    /// second to every VM, pending requests are checked every second, the catalog is audited every 5 s.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> FastReconcile = new Dictionary<string, string>
    {
        ["Fabric__Reconcile__DigestInterval"] = "00:00:01",
        ["Fabric__Reconcile__DigestSlices"] = "1",
        ["Fabric__Reconcile__PendingCheckInterval"] = "00:00:01",
        ["Fabric__Reconcile__AuditInterval"] = "00:00:05",
    };

    /// <summary>The silos' own defaults: what benchmarks run with, so they measure what production runs.</summary>
    public static readonly IReadOnlyDictionary<string, string> ProductionDefaults = new Dictionary<string, string>();

    /// <summary>Settings every silo of this environment starts with, before its own (<see cref="FastReconcile"/> for tests).</summary>
    public IReadOnlyDictionary<string, string> SiloDefaults { get; }

    public IReadOnlyDictionary<string, SiloHandle> Silos => _silos;

    /// <summary>The bridge and namespaces of the <see cref="NetworkTopology.Namespaces"/> topology; null on loopback.</summary>
    public Underlay? Underlay { get; }

    public NetworkTopology Topology => Underlay is null ? NetworkTopology.Loopback : NetworkTopology.Namespaces;

    /// <summary>Starts Redis and one QEMU host silo per host id, all on loopback, and waits until every host serves.</summary>
    public static Task<FabricEnvironment> StartAsync(params string[] hosts) => StartAsync(NetworkTopology.Loopback, hosts);

    /// <summary>
    /// Starts Redis and one QEMU host silo per host id in <paramref name="topology"/>, and waits until every host
    /// serves. <see cref="NetworkTopology.Namespaces"/> needs root (<see cref="Underlay.UnavailableReason"/>).
    /// </summary>
    public static Task<FabricEnvironment> StartAsync(NetworkTopology topology, params string[] hosts) => StartAsync(topology, FastReconcile, hosts);

    /// <summary>As above, with <paramref name="siloDefaults"/> under every silo's settings (benchmarks: <see cref="ProductionDefaults"/>).</summary>
    public static async Task<FabricEnvironment> StartAsync(NetworkTopology topology, IReadOnlyDictionary<string, string> siloDefaults, params string[] hosts)
    {
        var directory = TestDirectories.Create();
        var pki = TestPki.Create(Path.Combine(directory, "pki"));
        Underlay? underlay = null;
        RedisServer? redis = null;
        try
        {
            if (topology == NetworkTopology.Namespaces)
            {
                underlay = await Underlay.CreateAsync(directory);

                // Hosts here realize networks, and dnsmasq (running as nobody) reads its reservations under their data
                // directories: others may pass through (0711), never list.
                if (OperatingSystem.IsLinux())
                {
                    File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
                }
            }

            redis = await RedisServer.StartAsync(Path.Combine(directory, "redis"), underlay is null ? [] : [underlay.BridgeAddress], pki);
        }
        catch
        {
            await DisposeQuietlyAsync(redis);
            await DisposeQuietlyAsync(underlay);
            System.IO.Directory.Delete(directory, recursive: true);
            throw;
        }

        var environment = new FabricEnvironment(directory, pki, redis, underlay, siloDefaults);
        try
        {
            await Task.WhenAll(hosts.Select(host => environment.StartSiloAsync(host)));
            return environment;
        }
        catch
        {
            await environment.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts (or restarts) the silo of <paramref name="hostId"/>, with the same ports and data directory as before.</summary>
    public async Task<SiloHandle> StartSiloAsync(string hostId, IReadOnlyDictionary<string, string>? settings = null)
    {
        var previous = _silos.GetValueOrDefault(hostId);
        if (previous is { Process.HasExited: false })
        {
            throw new InvalidOperationException($"the silo of {hostId} is still running");
        }

        var siloPort = previous?.SiloPort ?? Ports.Free();
        var gatewayPort = previous?.GatewayPort ?? Ports.Free();
        var apiPort = previous?.ApiPort ?? Ports.Free();
        var data = Path.Combine(Directory, "data", hostId);
        var (network, address) = Underlay is null ? (null, "127.0.0.1") : await Underlay.AddHostAsync(hostId);
        var redis = Underlay is null ? Redis.ConnectionString : Redis.ConnectionStringAt(Underlay.BridgeAddress);
        var environment = SiloEnvironment(hostId, data, address, redis, siloPort, gatewayPort, apiPort, settings);

        // In a namespace, underlay.sh exec runs the silo there under the same pid (so killing it kills the silo).
        var (program, arguments) = Underlay is null ? ("dotnet", [RepoPaths.SiloDll]) : Underlay.Exec(hostId, "dotnet", [RepoPaths.SiloDll]);
        var process = ChildProcess.Start(program, arguments, environment, Path.Combine(Directory, "logs", $"{hostId}.log"));
        var handle = new SiloHandle(hostId, process, siloPort, gatewayPort, data) { Address = address, Namespace = network, ApiPort = apiPort };
        _silos[hostId] = handle;
        var hostCount = int.Parse(settings?.GetValueOrDefault("Fabric__Simulation__HostCount") ?? "1", CultureInfo.InvariantCulture);
        await process.WaitForOutputAsync(" is serving", SiloStartTimeout, hostCount);
        return handle;
    }

    /// <summary>
    /// Starts one more silo process for <paramref name="hostId"/> — on ports and a data directory of its own, logging
    /// to <c>logs/{name}.log</c> — without waiting for it to serve: a silo the fabric should refuse. Killed with the
    /// environment.
    /// </summary>
    public ChildProcess StartExtraSilo(string hostId, string name, IReadOnlyDictionary<string, string>? settings = null)
    {
        if (Underlay is not null)
        {
            throw new InvalidOperationException("extra silos run in the loopback topology only");
        }

        var environment = SiloEnvironment(hostId, Path.Combine(Directory, name), "127.0.0.1", Redis.ConnectionString, Ports.Free(), Ports.Free(), Ports.Free(), settings);
        var process = ChildProcess.Start("dotnet", [RepoPaths.SiloDll], environment, Path.Combine(Directory, "logs", $"{name}.log"));
        _extraSilos.Add(process);
        return process;
    }

    /// <summary>Starts a silo serving <paramref name="count"/> SIMULATED hosts named <paramref name="prefix"/>000….</summary>
    public Task<SiloHandle> StartSimulatedSiloAsync(string name, string prefix, int count, IReadOnlyDictionary<string, string>? settings = null)
    {
        var all = new Dictionary<string, string>(settings ?? new Dictionary<string, string>())
        {
            ["Fabric__Driver"] = "simulated",
            ["Fabric__Simulation__HostCount"] = count.ToString(CultureInfo.InvariantCulture),
            ["Fabric__Simulation__HostPrefix"] = prefix,
        };
        return StartSiloAsync(name, all);
    }

    /// <summary>SIGKILL to the silo of <paramref name="hostId"/>: its VMs' QEMU processes keep running.</summary>
    public Task KillSiloAsync(string hostId) => _silos[hostId].Process.KillAsync();

    /// <summary>SIGTERM to the silo of <paramref name="hostId"/> (a graceful stop).</summary>
    public Task StopSiloAsync(string hostId) => _silos[hostId].Process.StopAsync(TimeSpan.FromSeconds(30));

    /// <summary>A client of this fabric (disposed with the environment).</summary>
    public async Task<FabricClient> ConnectAsync()
    {
        var client = await FabricClient.ConnectAsync(new FabricConnection
        {
            Redis = Redis.ConnectionString,
            RedisPasswordFile = Redis.PasswordFile,
            Tls = ClientTls,
            ClusterId = ClusterId,
            ServiceId = ServiceId,
        });
        _clients.Add(client);
        return client;
    }

    /// <summary>Live QEMU processes started under <paramref name="hostId"/>'s data directory.</summary>
    public IReadOnlyList<int> QemuPidsOf(string hostId) => ProcessSweep.FindQemu(Path.Combine(Directory, "data", hostId) + "/");

    /// <summary>Live QEMU processes of this environment.</summary>
    public IReadOnlyList<int> QemuPids() => ProcessSweep.FindQemu(Directory + "/");

    /// <summary>Waits until <paramref name="hostId"/> is shown in <paramref name="state"/>; returns how long it took.</summary>
    public static async Task<TimeSpan> WaitForHostStateAsync(FabricClient client, string hostId, HostState state, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(client);
        var started = DateTimeOffset.UtcNow;
        var (attempts, slowest, lastSeen) = (0, TimeSpan.Zero, "nothing yet");
        while (true)
        {
            var call = DateTimeOffset.UtcNow;
            attempts++;
            try
            {
                var shown = (await client.ListHostsAsync()).FirstOrDefault(h => h.Name == hostId)?.State;
                if (shown == state)
                {
                    return DateTimeOffset.UtcNow - started;
                }

                lastSeen = $"{shown?.ToString() ?? "absent"} at +{(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s";
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Unavailable)
            {
                // The scheduler may be moving to another silo.
                lastSeen = $"unavailable at +{(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s ({ex.Message})";
            }

            slowest = DateTimeOffset.UtcNow - call > slowest ? DateTimeOffset.UtcNow - call : slowest;
            if (DateTimeOffset.UtcNow - started > timeout)
            {
                // A timeout is missing evidence: say what the fabric did show, and how long its answers took.
                throw new TimeoutException($"host {hostId} not {state} within {timeout.TotalSeconds:0} s: {attempts} listings, the slowest took {slowest.TotalSeconds:0.0} s; last: {lastSeen}");
            }

            await Task.Delay(100);
        }
    }

    private Dictionary<string, string> SiloEnvironment(string hostId, string data, string address, string redis, int siloPort, int gatewayPort, int apiPort, IReadOnlyDictionary<string, string>? settings)
    {
        if (!File.Exists(AdminTokenFile))
        {
            File.WriteAllText(AdminTokenFile, AdminToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(AdminTokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        // One certificate per host (as ./fabric up issues it), for its name, address and loopback.
        var (certificateFile, keyFile) = File.Exists(Path.Combine(Pki.Directory, $"{hostId}.crt"))
            ? (Path.Combine(Pki.Directory, $"{hostId}.crt"), Path.Combine(Pki.Directory, $"{hostId}.key"))
            : Pki.IssueHost(hostId, IPAddress.Parse(address), IPAddress.Loopback);
        var environment = new Dictionary<string, string>(SiloDefaults)
        {
            ["Fabric__DataDirectory"] = data,
            ["Fabric__ImagesDirectory"] = RepoPaths.Images,
            ["Fabric__Redis"] = redis,
            ["Fabric__Redis__PasswordFile"] = Redis.PasswordFile,
            ["Fabric__Tls__CaFile"] = Pki.CaFile,
            ["Fabric__Tls__CertificateFile"] = certificateFile,
            ["Fabric__Tls__KeyFile"] = keyFile,
            ["Fabric__ClusterId"] = ClusterId,
            ["Fabric__ServiceId"] = ServiceId,
            ["Fabric__Address"] = address,
            ["Fabric__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Fabric__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Fabric__Api__Port"] = apiPort.ToString(CultureInfo.InvariantCulture),
            ["Fabric__Api__BootstrapTokenFile"] = AdminTokenFile,
            ["DOTNET_gcServer"] = "0",
        };
        if (Underlay is not null)
        {
            // Each silo has a namespace of its own: it may realize virtual networks there.
            environment["Fabric__Networks"] = "on";
        }

        if (Environment.GetEnvironmentVariable("FABRIC_ACCELERATOR") is { Length: > 0 } accelerator)
        {
            environment["Fabric__Accelerator"] = accelerator;
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        // A QEMU silo serves the host it is named after; a simulation silo serves only its simulated hosts.
        if (!environment.ContainsKey("Fabric__Simulation__HostCount"))
        {
            environment["Fabric__HostId"] = hostId;
        }

        return environment;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var silo in _extraSilos)
            {
                await silo.DisposeAsync();
            }

            foreach (var client in _clients)
            {
                await client.DisposeAsync();
            }

            foreach (var silo in _silos.Values)
            {
                await silo.Process.DisposeAsync();
            }

            ProcessSweep.KillAll(Directory + "/");
            await Redis.DisposeAsync();
            for (var attempt = 0; attempt < 50 && ProcessSweep.Find(Directory + "/").Count > 0; attempt++)
            {
                await Task.Delay(20);
            }

            ProcessSweep.RemoveCgroups(Path.Combine(Directory, "data"), hostsBelow: true);
        }
        finally
        {
            // Last, and whatever happened above: it also ends anything still running in the namespaces.
            if (Underlay is not null)
            {
                await Underlay.DisposeAsync();
            }
        }

        // FABRIC_KEEP_TEST_DIRS=1 keeps the directory (logs of every silo, Redis and QEMU) for a post-mortem.
        if (Environment.GetEnvironmentVariable("FABRIC_KEEP_TEST_DIRS") == "1")
        {
            return;
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A process was still writing; the directory is in /tmp.
        }
    }

    private static async Task DisposeQuietlyAsync(IAsyncDisposable? disposable)
    {
        try
        {
            if (disposable is not null)
            {
                await disposable.DisposeAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Cleaning up after a failed start: the start's own exception is the one to report.
        }
    }
}
