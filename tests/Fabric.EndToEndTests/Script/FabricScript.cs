using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Script;

/// <summary>What one run of <c>./fabric</c> printed.</summary>
internal sealed record ScriptRun(IReadOnlyList<string> Arguments, int ExitCode, string Output, string Error)
{
    public IReadOnlyList<string> Lines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() => $"./fabric {string.Join(' ', Arguments)} exited {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
}

/// <summary>One host of <c>./fabric status -o json</c>.</summary>
internal sealed record ScriptHost(string HostId, bool Running, int? Pid, string Address, string? Namespace);

/// <summary>
/// <c>./fabric</c> with a private FABRIC_HOME (under /tmp/fab-…), free ports, a test namespace prefix and subnet, and
/// the built guest images (FABRIC_IMAGES). Disposing runs <c>./fabric down</c>, then ends whatever is still there.
/// </summary>
internal sealed class FabricScript : IAsyncDisposable
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);
    private readonly HashSet<int> _seen = [];

    private FabricScript(string home, int redisPort)
    {
        Home = home;
        RedisPort = redisPort;
    }

    public string Home { get; }

    public int RedisPort { get; }

    public int SiloPort { get; } = Ports.Free();

    public int GatewayPort { get; } = Ports.Free();

    public int ApiPort { get; } = Ports.Free();


    public string Prefix { get; } = Underlay.NewPrefix();

    public string Subnet { get; } = Underlay.NextSubnet();

    public static FabricScript Create(int? redisPort = null)
    {
        // As a FABRIC_HOME in a checkout would be: others may pass through (dnsmasq, as nobody, reads its files there).
        var home = TestDirectories.Create();
        File.SetUnixFileMode(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        return new(home, redisPort ?? Ports.Free());
    }

    public string PidFile(string name) => Path.Combine(Home, "run", $"{name}.pid");

    public async Task<ScriptRun> RunAsync(params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(RepoPaths.FabricScript)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["FABRIC_HOME"] = Home;
        startInfo.Environment["FABRIC_IMAGES"] = RepoPaths.Images;
        startInfo.Environment["FABRIC_REDIS_PORT"] = RedisPort.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["FABRIC_SILO_PORT"] = SiloPort.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["FABRIC_GATEWAY_PORT"] = GatewayPort.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["FABRIC_API_PORT"] = ApiPort.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["FABRIC_NETNS_PREFIX"] = Prefix;
        startInfo.Environment["FABRIC_UNDERLAY"] = Subnet;

        // The defaults, whatever the test runner's environment says: each test fabric has a Redis of its own.
        startInfo.Environment["FABRIC_CLUSTER_ID"] = "fabric";
        startInfo.Environment.Remove("FABRIC_SERVICE_ID");

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("./fabric did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(RunTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"./fabric {string.Join(' ', arguments)} did not finish within {RunTimeout.TotalMinutes:0} minutes");
        }

        var run = new ScriptRun(arguments, process.ExitCode, await output, await error);
        Remember();
        return run;
    }

    /// <summary><c>./fabric status -o json</c>, parsed.</summary>
    public async Task<JsonElement> StatusAsync()
    {
        var run = await RunAsync("status", "-o", "json");
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonDocument.Parse(run.Output).RootElement.Clone();
    }

    public static IReadOnlyList<ScriptHost> Hosts(JsonElement status) =>
    [
        .. status.GetProperty("hosts").EnumerateArray().Select(h => new ScriptHost(
            h.GetProperty("hostId").GetString()!,
            h.GetProperty("running").GetBoolean(),
            h.GetProperty("pid").ValueKind == JsonValueKind.Number ? h.GetProperty("pid").GetInt32() : null,
            h.GetProperty("address").GetString()!,
            h.GetProperty("namespace").GetString())),
    ];

    /// <summary>
    /// Live processes of this fabric: silos (their environment names a data directory under <see cref="Home"/>),
    /// QEMUs (their command line does) and Redis (it runs in <see cref="Home"/>/redis).
    /// </summary>
    public IReadOnlyList<int> LiveProcesses()
    {
        var data = Path.Combine(Home, "data") + "/";
        var redis = Path.Combine(Home, "redis");
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || !Processes.IsAlive(pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            if (Processes.Arguments(pid).Any(a => a.Contains(data, StringComparison.Ordinal))
                || EnvironmentOf(pid).Any(v => v.StartsWith("Fabric__DataDirectory=" + data, StringComparison.Ordinal))
                || (Processes.Arguments(pid) is [var program, ..] && program.StartsWith("redis-server", StringComparison.Ordinal) && WorkingDirectoryOf(pid) == redis))
            {
                found.Add(pid);
            }
        }

        return found;
    }

    /// <summary>This fabric's namespaces and links that still exist (names starting with its prefix).</summary>
    public IReadOnlyList<string> NetworkLeftovers() =>
    [
        .. NetworkNamespaces.Names().Where(n => n.StartsWith(Prefix + "-", StringComparison.Ordinal)),
        .. Directory.EnumerateDirectories("/sys/class/net").Select(Path.GetFileName).OfType<string>().Where(n => n.StartsWith(Prefix + "-", StringComparison.Ordinal)),
    ];

    public async ValueTask DisposeAsync()
    {
        await RunAsync("down");
        foreach (var pid in LiveProcesses())
        {
            Processes.Kill(pid);
        }

        if (Underlay.UnavailableReason is null && NetworkLeftovers().Count > 0)
        {
            using var down = Process.Start(RepoPaths.UnderlayScript, ["down", "--kill", Prefix]);
            await down.WaitForExitAsync();
        }

        // Their parent (the script) is gone; if this process is a subreaper (the driver tests make it one), the
        // exited ones are its zombies.
        foreach (var pid in _seen)
        {
            Processes.TryReap(pid);
        }

        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
            // A process was still writing; the directory is in /tmp.
        }
    }

    private static string[] EnvironmentOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string? WorkingDirectoryOf(int pid)
    {
        try
        {
            return new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void Remember()
    {
        foreach (var pid in LiveProcesses())
        {
            _seen.Add(pid);
        }
    }
}
