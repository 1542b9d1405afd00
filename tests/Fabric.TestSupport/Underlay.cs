using System.Diagnostics;
using System.Globalization;

namespace Fabric.TestSupport;

/// <summary>
/// The namespaces topology of one test environment: a bridge and one network namespace per host, made and removed by
/// deploy/local/underlay.sh (the same script <c>./fabric up</c> uses), with a prefix and subnet of its own.
/// </summary>
public sealed class Underlay : IAsyncDisposable
{
    /// <summary>Test prefixes are "t" and 5 hex digits; <c>./fabric test</c> removes any such namespaces left behind.</summary>
    private const string TestPrefixLetter = "t";

    /// <summary>Test subnets: 10.214.0.0/24 … 10.215.255.0/24 (./fabric's default is 10.213.0.0/24).</summary>
    private const int FirstSubnetOctet = 214;
    private const int SubnetCount = 512;
    private const int HostOctetBase = 10;

    private static readonly Lock SubnetLock = new();
    private static int _nextSubnet = Random.Shared.Next(SubnetCount);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<string> _hosts = [];
    private bool _disposed;

    private Underlay(string prefix, string subnet, string owner)
    {
        Prefix = prefix;
        Subnet = subnet;
        Owner = owner;
    }

    /// <summary>Namespaces are named <c>PREFIX-HOST</c>, the bridge <c>PREFIX-br</c>.</summary>
    public string Prefix { get; }

    /// <summary>The first three octets of the /24, e.g. <c>10.214.7</c>.</summary>
    public string Subnet { get; }

    /// <summary>Who made it (the environment's directory): underlay.sh refuses to touch it for anyone else.</summary>
    public string Owner { get; }

    /// <summary>The root namespace's address on the bridge, where processes in the namespaces reach Redis.</summary>
    public string BridgeAddress => $"{Subnet}.1";

    /// <summary>Why namespaces cannot be made here, or null when they can (they need root).</summary>
    public static string? UnavailableReason =>
        Environment.IsPrivilegedProcess ? null : "network namespaces need root (CI runs as root)";

    /// <summary>A fresh test prefix: "t" and 5 random hex digits.</summary>
    public static string NewPrefix() => TestPrefixLetter + Random.Shared.Next(0x100000).ToString("x5", CultureInfo.InvariantCulture);

    /// <summary>
    /// The next test subnet. Within one process no two calls return the same one (until all 512 are used); another
    /// process starts at a random point, and underlay.sh refuses a subnet in use, which <see cref="CreateAsync"/>
    /// answers by taking the next one.
    /// </summary>
    public static string NextSubnet()
    {
        lock (SubnetLock)
        {
            var n = _nextSubnet;
            _nextSubnet = (_nextSubnet + 1) % SubnetCount;
            return $"10.{FirstSubnetOctet + (n / 256)}.{n % 256}";
        }
    }

    /// <summary>Makes the bridge (no hosts yet) under a fresh prefix and subnet.</summary>
    public static async Task<Underlay> CreateAsync(string owner)
    {
        if (UnavailableReason is { } reason)
        {
            throw new InvalidOperationException(reason);
        }

        for (var attempt = 1; ; attempt++)
        {
            var underlay = new Underlay(NewPrefix(), NextSubnet(), owner);
            var result = await RunAsync("up", "--owner", owner, underlay.Prefix, underlay.Subnet);
            if (result.ExitCode == 0)
            {
                return underlay;
            }

            // Another environment (or process) holds that subnet or prefix: take the next.
            if (attempt < 8 && result.Error.Contains("error: conflict:", StringComparison.Ordinal))
            {
                continue;
            }

            throw result.Failure("up");
        }
    }

    /// <summary>The namespace of <paramref name="hostId"/> (whether or not it exists yet).</summary>
    public string NamespaceOf(string hostId) => $"{Prefix}-{hostId}";

    /// <summary>
    /// Makes (idempotently) the namespace of <paramref name="hostId"/> and returns it with the host's address. Hosts
    /// get addresses in the order they are first added.
    /// </summary>
    public async Task<(string Namespace, string Address)> AddHostAsync(string hostId)
    {
        await _gate.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_hosts.Contains(hostId))
            {
                _hosts.Add(hostId);
            }

            var result = await RunAsync(["up", "--owner", Owner, Prefix, Subnet, .. _hosts]);
            if (result.ExitCode != 0)
            {
                throw result.Failure("up");
            }

            return (NamespaceOf(hostId), AddressOf(hostId));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The underlay address of a host added earlier.</summary>
    public string AddressOf(string hostId)
    {
        var index = _hosts.IndexOf(hostId);
        return index >= 0
            ? $"{Subnet}.{(HostOctetBase + index).ToString(CultureInfo.InvariantCulture)}"
            : throw new InvalidOperationException($"{hostId} has no namespace in underlay {Prefix}");
    }

    /// <summary>The program and arguments that run <paramref name="program"/> in the namespace of <paramref name="hostId"/>, keeping its pid.</summary>
    public (string Program, IReadOnlyList<string> Arguments) Exec(string hostId, string program, IEnumerable<string> arguments) =>
        (RepoPaths.UnderlayScript, ["exec", Prefix, hostId, "--", program, .. arguments]);

    /// <summary>Removes every namespace, veth and the bridge; processes still inside are killed (TERM, then KILL).</summary>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            var result = await RunAsync("down", "--kill", "--owner", Owner, Prefix);
            if (result.ExitCode != 0)
            {
                throw result.Failure("down");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task<ScriptResult> RunAsync(params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(RepoPaths.UnderlayScript)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{RepoPaths.UnderlayScript} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new ScriptResult(arguments, process.ExitCode, await output, await error);
    }

    private sealed record ScriptResult(IReadOnlyList<string> Arguments, int ExitCode, string Output, string Error)
    {
        public InvalidOperationException Failure(string command) =>
            new($"underlay.sh {command} failed (exit {ExitCode}): {Error.Trim()} [underlay.sh {string.Join(' ', Arguments)}]");
    }
}
