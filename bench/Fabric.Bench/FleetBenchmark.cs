using System.Collections.Concurrent;
using System.Diagnostics;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One lifecycle phase over the whole fleet.</summary>
internal sealed record PhaseResult(string Operation, int Count, int Failed, double Seconds, double OpsPerSecond, double P50Ms, double P99Ms);

/// <summary>One fleet size in one topology.</summary>
internal sealed record FleetRun(
    int Silos,
    int Hosts,
    int Vms,
    IReadOnlyList<PhaseResult> Phases,
    PhaseResult RedisBaseline,
    double LifecycleOpsPerSecond,
    double RssBytesPerVm,
    double HeapBytesPerVm,
    double EmptySiloRssMiB,
    double FullSiloRssMiB);

internal sealed record FleetReport(string Driver, int Concurrency, IReadOnlyList<FleetRun> Runs);

/// <summary>
/// Fleet scale with the SIMULATED driver (no guests run): 100 simulated hosts in one silo process and again across
/// three, then the fleet sizes given created, started, stopped and deleted through Fabric.Client, with Redis storage.
/// Memory is measured on the silo processes: resident set and live GC heap after a forced collection, with the
/// fleet's grains active, minus the same figures of the empty fabric.
/// </summary>
internal static class FleetBenchmark
{
    private const int HostCount = 100;
    private const int WarmUpVms = 2000;

    public static async Task<FleetReport> RunAsync(IReadOnlyList<int> sizes, int concurrency, IReadOnlyList<int> siloCounts, TimeSpan hold, TextWriter progress)
    {
        var runs = new List<FleetRun>();
        foreach (var silos in siloCounts)
        {
            foreach (var size in sizes)
            {
                runs.Add(await RunOneAsync(silos, size, concurrency, hold, progress));
            }
        }

        return new FleetReport("simulated", concurrency, runs);
    }

    private static async Task<FleetRun> RunOneAsync(int silos, int vms, int concurrency, TimeSpan hold, TextWriter progress)
    {
        progress.WriteLine($"fleet: {silos} silo(s), {HostCount} simulated hosts, {vms} VMs");
        await using var environment = await FabricEnvironment.StartAsync(NetworkTopology.Loopback, FabricEnvironment.ProductionDefaults);

        // Every host offers room for its share of the fleet (1 vCPU, 32 MiB per VM) with a margin.
        var perHost = (vms / HostCount) + 64;
        var settings = new Dictionary<string, string>
        {
            ["Fabric__VCpus"] = perHost.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Fabric__MemoryMiB"] = (perHost * 32L).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Fabric__CpuOvercommit"] = "1",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Fabric.Grains.Host.HostAgent"] = "Information",
        };
        var shares = Enumerable.Range(0, silos).Select(i => (HostCount / silos) + (i < HostCount % silos ? 1 : 0)).ToList();
        await Task.WhenAll(shares.Select((count, i) => environment.StartSimulatedSiloAsync($"silo-{i}", $"sim{i}-", count, settings)));
        var client = await environment.ConnectAsync();
        await WaitForHostsAsync(client, HostCount);

        var spec = new VmSpec { Name = "x", Image = "tiny", VCpus = 1, MemoryMiB = 32 };

        // Warm up (JIT, connections, caches) with a small fleet of its own, not counted.
        var warmUp = Enumerable.Range(1, WarmUpVms).Select(i => $"warm-{i:D4}").ToList();
        await PhaseAsync("warm-up create", warmUp, concurrency, name => client.CreateVmAsync(spec with { Name = name }), TextWriter.Null);
        await PhaseAsync("warm-up start", warmUp, concurrency, name => client.StartVmAsync(name), TextWriter.Null);
        await PhaseAsync("warm-up stop", warmUp, concurrency, name => client.StopVmAsync(name, new StopOptions { Force = true }), TextWriter.Null);
        await PhaseAsync("warm-up delete", warmUp, concurrency, client.DeleteVmAsync, TextWriter.Null);

        var empty = await MeasureMemoryAsync(environment, client);
        var names = Enumerable.Range(1, vms).Select(i => $"fleet-{i:D6}").ToList();
        var phases = new List<PhaseResult>
        {
            await PhaseAsync("create", names, concurrency, name => client.CreateVmAsync(spec with { Name = name }), progress),
            await PhaseAsync("start", names, concurrency, name => client.StartVmAsync(name), progress),
        };
        var full = await MeasureMemoryAsync(environment, client);
        if (hold > TimeSpan.Zero)
        {
            // For a heap snapshot of the full fleet: dotnet-gcdump collect -p <silo pid>.
            progress.WriteLine($"  holding {vms} running VMs for {hold.TotalSeconds:0} s (silo pids: {string.Join(", ", environment.Silos.Values.Select(s => s.Process.Pid))})");
            await Task.Delay(hold);
        }
        phases.Add(await PhaseAsync("stop", names, concurrency, name => client.StopVmAsync(name, new StopOptions { Force = true }), progress));
        phases.Add(await PhaseAsync("delete", names, concurrency, client.DeleteVmAsync, progress));

        var baseline = await RedisBaselineAsync(environment.Redis.ClientOptions(), names, concurrency, progress);
        var totalOps = phases.Sum(p => p.Count - p.Failed);
        var totalSeconds = phases.Sum(p => p.Seconds);
        return new FleetRun(
            silos,
            HostCount,
            vms,
            phases,
            baseline,
            totalOps / totalSeconds,
            (full.Rss - empty.Rss) / vms,
            (full.Heap - empty.Heap) / vms,
            empty.Rss / 1048576.0,
            full.Rss / 1048576.0);
    }

    private static async Task<PhaseResult> PhaseAsync(string operation, List<string> names, int concurrency, Func<string, Task> call, TextWriter progress)
    {
        var latencies = new ConcurrentBag<double>();
        var failures = new ConcurrentDictionary<string, int>();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (name, _) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await call(name);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (FabricException ex)
            {
                failures.AddOrUpdate(ex.Code, 1, (_, n) => n + 1);
            }
        });
        var seconds = clock.Elapsed.TotalSeconds;
        var stats = new Stats(latencies);
        var failed = failures.Values.Sum();
        progress.WriteLine($"  {operation,-6} {names.Count} in {seconds:0.0} s: {stats.Count / seconds:0} ops/s, p50 {stats.Median:0.0} ms, p99 {stats.P99:0.0} ms{(failed > 0 ? $", failed {failed} ({string.Join(", ", failures.Select(f => $"{f.Key}: {f.Value}"))})" : "")}");
        return new PhaseResult(operation, names.Count, failed, seconds, stats.Count / seconds, stats.Median, stats.P99);
    }

    /// <summary>
    /// The baseline in the same run: one plain Redis write per VM (HSET of a VM summary of the catalog's size) from this
    /// client, at the same concurrency, to the same Redis. Each fabric lifecycle operation does two or more such
    /// writes (the VM record, the catalog entry, a reservation) plus its grain calls.
    /// </summary>
    private static async Task<PhaseResult> RedisBaselineAsync(StackExchange.Redis.ConfigurationOptions redis, List<string> names, int concurrency, TextWriter progress)
    {
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis);
        var database = connection.GetDatabase();
        var summary = System.Text.Json.JsonSerializer.Serialize(new VmInfo
        {
            Name = "fleet-000000",
            State = VmState.Running,
            Host = "sim0-000",
            VCpus = 1,
            MemoryMiB = 32,
            Image = "tiny",
            Pid = 1_000_000,
            InstanceId = Guid.NewGuid(),
        });
        var result = await PhaseAsync("redis HSET (baseline)", names, concurrency, name => database.HashSetAsync("bench:baseline", name, summary), progress);
        await database.KeyDeleteAsync("bench:baseline");
        return result;
    }

    /// <summary>Resident set and live GC heap of all silo processes, after a forced full collection.</summary>
    private static async Task<(double Rss, double Heap)> MeasureMemoryAsync(FabricEnvironment environment, FabricClient client)
    {
        var management = client.ClusterClient.GetGrain<IManagementGrain>(0);
        var silos = (await management.GetHosts(onlyActive: true)).Keys.ToArray();
        await management.ForceGarbageCollection(silos);
        await management.ForceRuntimeStatisticsCollection(silos);
        var statistics = await management.GetRuntimeStatistics(silos);
        var rss = environment.Silos.Values.Sum(s => Processes.ResidentBytes(s.Process.Pid) ?? 0);

        // Orleans' per-silo managed heap figure (GC total memory plus fragmentation); its replacement is not public yet.
#pragma warning disable CS0618
        return (rss, statistics.Sum(s => (double)(s.MemoryUsage ?? 0)));
#pragma warning restore CS0618
    }

    private static async Task WaitForHostsAsync(FabricClient client, int count)
    {
        var deadline = Stopwatch.StartNew();
        while ((await client.ListHostsAsync()).Count(h => h.State == HostState.Ready) < count)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"fewer than {count} hosts ready after 60 s");
            }

            await Task.Delay(100);
        }
    }
}
