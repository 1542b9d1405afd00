using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>Host-failure detection under one failure-detection setting.</summary>
internal sealed record DetectResult(string Mode, int Kills, double MedianSeconds, double MaxSeconds, double MinSeconds);

/// <summary><paramref name="Topology"/>: <c>namespaces</c> (each host silo in a network namespace of its own) or <c>loopback</c>.</summary>
internal sealed record DetectReport(int Hosts, string Topology, IReadOnlyList<DetectResult> Modes);

/// <summary>
/// Time from kill -9 of a host silo to that host shown Down through Fabric.Client, with Fabric's tuned failure detection
/// and, as the baseline in the same run, Orleans' default settings. As root the silos run in the namespaces topology
/// (each its own network namespace and address, as hosts on a network), otherwise all on loopback.
/// </summary>
internal static class DetectBenchmark
{
    private static readonly string[] Hosts = ["host-a", "host-b", "host-c"];

    public static async Task<DetectReport> RunAsync(int kills, NetworkTopology topology, TextWriter progress)
    {
        var results = new List<DetectResult>();
        foreach (var (mode, timeout) in new[] { ("Tuned", TimeSpan.FromSeconds(60)), ("OrleansDefault", TimeSpan.FromSeconds(300)) })
        {
            results.Add(await MeasureAsync(mode, kills, topology, timeout, progress));
        }

        return new DetectReport(Hosts.Length, topology.ToString().ToLowerInvariant(), results);
    }

    /// <summary>Namespaces where they can be made (as root), unless <paramref name="loopback"/> asks otherwise.</summary>
    public static NetworkTopology ChooseTopology(bool loopback) =>
        !loopback && Underlay.UnavailableReason is null ? NetworkTopology.Namespaces : NetworkTopology.Loopback;

    private static async Task<DetectResult> MeasureAsync(string mode, int kills, NetworkTopology topology, TimeSpan timeout, TextWriter progress)
    {
        var settings = new Dictionary<string, string> { ["Fabric__FailureDetection"] = mode };
        await using var environment = await FabricEnvironment.StartAsync(topology, FabricEnvironment.ProductionDefaults);
        await Task.WhenAll(Hosts.Select(host => environment.StartSiloAsync(host, settings)));
        var client = await environment.ConnectAsync();
        var seconds = new List<double>();
        for (var kill = 0; kill < kills; kill++)
        {
            // Kill a different host each time, never the one whose gateway the client happens to use most.
            var victim = Hosts[1 + (kill % 2)];
            await FabricEnvironment.WaitForHostStateAsync(client, victim, HostState.Ready, TimeSpan.FromSeconds(60));
            await environment.KillSiloAsync(victim);
            var detected = await FabricEnvironment.WaitForHostStateAsync(client, victim, HostState.Down, timeout);
            seconds.Add(detected.TotalSeconds);
            progress.WriteLine($"  {mode}: {victim} Down {detected.TotalSeconds:0.0} s after kill -9");
            await environment.StartSiloAsync(victim, settings);
        }

        var stats = new Stats(seconds);
        return new DetectResult(mode, kills, stats.Median, stats.Max, stats.Min);
    }
}
