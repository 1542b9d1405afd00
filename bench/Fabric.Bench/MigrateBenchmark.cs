using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One path's live migrations of the <c>linux</c> guest, in milliseconds (null: no migration reported it).</summary>
internal sealed record MigrationFigures(
    string Path,
    int Migrations,
    double TotalP50Ms,
    double TotalP99Ms,
    double? QemuTotalP50Ms,
    double? DowntimeP50Ms,
    double? DowntimeP99Ms,
    double? PauseP50Ms,
    double? PauseP99Ms,
    double? CallP50Ms,
    int Failed,
    IReadOnlyList<string> Failures);

/// <summary>The fabric against raw QMP with one downtime limit, alternating in one run, and the targets.</summary>
internal sealed record MigrateComparison(
    int DowntimeLimitMs,
    MigrationFigures Fabric,
    MigrationFigures Baseline,
    double TotalRatio,
    double TotalRatioP99,
    double TotalRatioTarget,
    bool TotalRatioMet,
    double? PauseP99TargetMs,
    bool? PauseP99TargetMet);

/// <summary>One migration of the fast-dirtying <c>memwalk</c> guest in one mode.</summary>
internal sealed record ConvergenceResult(
    string Mode,
    bool Finished,
    string Outcome,
    string? Reason,
    long TotalMs,
    long? GuestPauseMs,
    long? DowntimeMs,
    long Passes,
    int ThrottlePercent,
    bool Postcopy,
    double TransferredMiB);

/// <summary>Snapshots of the <c>linux</c> guest through the fabric.</summary>
internal sealed record SnapshotFigures(
    int Runs,
    string Method,
    double SizeMiB,
    double? PauseP50Ms,
    double? PauseMaxMs,
    double CreateP50Ms,
    double CreateMaxMs,
    double CreateCallP50Ms,
    double RestoreP50Ms,
    double RestoreMaxMs);

/// <summary>All of <c>./fabric bench migrate</c>.</summary>
internal sealed record MigrateReport(
    string Topology,
    string Accelerator,
    int Rounds,
    IReadOnlyDictionary<string, string> SiloSettings,
    IReadOnlyList<MigrateComparison> Linux,
    int MemwalkMemoryMiB,
    MigrationRequest MemwalkRequest,
    IReadOnlyList<ConvergenceResult> Memwalk,
    SnapshotFigures Snapshots,
    IReadOnlyList<string> Notes);

/// <summary>
/// Live migration and snapshots, measured side by side in one run between two host silos (network peers in
/// namespaces as root):
/// <list type="number">
/// <item>the ticking <c>linux</c> guest (256 MiB) moved back and forth through the fabric, alternating with the same
/// guest moved by raw QMP between two QEMU processes launched directly in the same namespaces (the baseline: the
/// steps the fabric takes, without the fabric), with QEMU's default downtime limit and with 50 ms;</item>
/// <item>the <c>memwalk</c> guest (96 MiB, dirtying every page many times a second) with plain pre-copy, auto-converge
/// and post-copy through the fabric, over a capped stream;</item>
/// <item>snapshots of the <c>linux</c> guest: create (guest pause, time) and restore.</item>
/// </list>
/// </summary>
internal static partial class MigrateBenchmark
{
    private const string LinuxVm = "bench-linux";
    private const int LinuxMemoryMiB = 256;
    private const int MemwalkMemoryMiB = 96;
    private const double TotalRatioTarget = 1.10;
    private const int TunedDowntimeLimitMs = 50;
    private const double TunedPauseTargetMs = 50;

    /// <summary>QEMU's own downtime limit, which the fabric also sends when none is asked for.</summary>
    private const int DefaultDowntimeLimitMs = 300;

    private static readonly string[] Hosts = ["host-a", "host-b"];

    /// <summary>Between two migrations, outside the timed spans: the guest runs a little on its new host.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Shorter migration deadlines than production's (a budget of at least 20 s and 60 s per GiB, a 20 s stall
    /// watchdog), so that the memwalk migration that cannot converge ends within a reasonable time: a 15 s budget for
    /// each of these guests, and 10 s without progress. A stalled migration asked with post-copy switches to it rather
    /// than being undone. The linux migrations end within about a second and never come near either; everything else is
    /// the silos' production default.
    /// </summary>
    private static readonly Dictionary<string, string> SiloSettings = new(StringComparer.Ordinal)
    {
        ["Fabric__Migration__MinimumBudget"] = "00:00:15",
        ["Fabric__Migration__BudgetPerGiB"] = "00:00:15",
        ["Fabric__Migration__StallTimeout"] = "00:00:10",
    };

    /// <summary>
    /// As tests/Fabric.EndToEndTests/Migration/MigrationConvergenceTests.cs: over the veth underlay QEMU copies the whole
    /// guest within the default 300 ms downtime; a capped stream and a tight downtime make it as hard to catch up
    /// with as on a real network with a guest this busy.
    /// </summary>
    private static readonly MigrationRequest Outrun = new()
    {
        TargetHost = "host-b",
        BandwidthBytesPerSecond = 64L << 20,
        DowntimeLimitMs = 20,
    };

    public static async Task<MigrateReport> RunAsync(int rounds, NetworkTopology topology, TextWriter progress)
    {
        await using var environment = await FabricEnvironment.StartAsync(topology, FabricEnvironment.ProductionDefaults);
        await Task.WhenAll(Hosts.Select(host => environment.StartSiloAsync(host, SiloSettings)));
        var client = await environment.ConnectAsync();
        foreach (var host in Hosts)
        {
            await FabricEnvironment.WaitForHostStateAsync(client, host, HostState.Ready, TimeSpan.FromSeconds(60));
        }

        var accelerator = (await client.GetHostAsync("host-a")).Accelerator;
        var notes = new List<string>();

        // 1. The linux guest, through the fabric and by raw QMP, alternating.
        progress.WriteLine($"  booting the linux guest ({LinuxMemoryMiB} MiB) through the fabric on host-a");
        await client.CreateVmAsync(new VmSpec { Name = LinuxVm, Image = "linux", MemoryMiB = LinuxMemoryMiB, Placement = new VmPlacement { Host = "host-a" } });
        var started = await client.StartVmAsync(LinuxVm);
        var command = Processes.Arguments(started.Pid ?? throw new InvalidOperationException("the fabric reported no QEMU pid"));
        await WaitForConsoleAsync(client, LinuxVm, Tick2());

        progress.WriteLine("  booting the same QEMU command line directly in host-a's namespace (the baseline)");
        var baseline = new Baseline(environment, command);
        List<MigrateComparison> linux;
        try
        {
            await baseline.BootAsync();

            // One untimed round trip on each path first (JIT, page cache, the first launch on host-b).
            progress.WriteLine("  warm-up: one untimed round trip on each path");
            foreach (var to in new[] { "host-b", "host-a" })
            {
                if ((await MigrateThroughFabricAsync(client, new MigrationRequest())).Failure is { } failure)
                {
                    progress.WriteLine($"    warm-up fabric migration FAILED: {failure}");
                }

                await baseline.MigrateAsync(to, DefaultDowntimeLimitMs);
                await Task.Delay(Settle);
            }

            linux =
            [
                await CompareAsync(client, baseline, rounds, DefaultDowntimeLimitMs, progress),
                await CompareAsync(client, baseline, rounds, TunedDowntimeLimitMs, progress),
            ];
            await baseline.AssertTicksAsync();
        }
        finally
        {
            await baseline.DisposeAsync();
        }

        // 3. Snapshots of the same fabric guest (now back on host-a), with the baseline gone.
        var snapshots = await SnapshotsAsync(client, Math.Max(3, rounds / 2), progress);
        await client.StopVmAsync(LinuxVm, new StopOptions { Force = true });
        await client.DeleteVmAsync(LinuxVm);

        // 2. memwalk: plain pre-copy, auto-converge, post-copy.
        var memwalk = new List<ConvergenceResult>
        {
            await ConvergeAsync(client, "pre-copy", Outrun, progress),
            await ConvergeAsync(client, "auto-converge", Outrun with { AutoConverge = true }, progress),
        };
        if (Userfaultfd.UnavailableReason() is { } why)
        {
            notes.Add($"post-copy not measured: {why}");
        }
        else
        {
            memwalk.Add(await ConvergeAsync(client, "post-copy", Outrun with { Postcopy = true }, progress));
        }

        if (environment.Underlay is { } underlay)
        {
            var nsenter = await LaunchMsAsync(DirectQemu.InNamespace(underlay, "host-b", "true", []));
            var script = await LaunchMsAsync(underlay.Exec("host-b", "true", []));
            notes.Add($"the baseline launches its target QEMU in the namespace with nsenter: {nsenter:0.0} ms for `true` (median of 5); underlay.sh exec would cost {script:0.0} ms; the fabric's silo already runs in the namespace");
        }

        notes.AddRange(Targets(linux));
        return new MigrateReport(
            topology.ToString().ToLowerInvariant(),
            accelerator,
            rounds,
            SiloSettings,
            linux,
            MemwalkMemoryMiB,
            Outrun,
            memwalk,
            snapshots,
            notes);
    }

    /// <summary>The targets, said plainly whether met or not.</summary>
    private static IEnumerable<string> Targets(List<MigrateComparison> linux)
    {
        foreach (var c in linux)
        {
            foreach (var failure in c.Fabric.Failures)
            {
                yield return $"downtime limit {c.DowntimeLimitMs} ms: a fabric migration FAILED (left out of the figures): {failure}";
            }

            yield return $"downtime limit {c.DowntimeLimitMs} ms: fabric/baseline total p50 {c.TotalRatio.ToString("0.000", CultureInfo.InvariantCulture)}× against a target of ≤ {c.TotalRatioTarget.ToString("0.00", CultureInfo.InvariantCulture)}×: {(c.TotalRatioMet ? "met" : "NOT MET")}";
            if (c.PauseP99TargetMs is { } target)
            {
                yield return $"downtime limit {c.DowntimeLimitMs} ms: fabric guest pause p99 {Fixed(c.Fabric.PauseP99Ms)} ms against a target of ≤ {target:0} ms: {(c.PauseP99TargetMet == true ? "met" : "NOT MET")} (baseline p99 {Fixed(c.Baseline.PauseP99Ms)} ms)";
            }
        }
    }

    private static string Fixed(double? value) => value is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "n/a";

    /// <summary><paramref name="rounds"/> rounds, each moving the guest there and back through the fabric and by raw QMP, alternating which goes first.</summary>
    private static async Task<MigrateComparison> CompareAsync(FabricClient client, Baseline baseline, int rounds, int downtimeLimitMs, TextWriter progress)
    {
        progress.WriteLine($"  linux, downtime limit {downtimeLimitMs} ms: {rounds} rounds, each host-a → host-b → host-a through the fabric and by raw QMP");
        var request = downtimeLimitMs == DefaultDowntimeLimitMs ? new MigrationRequest() : new MigrationRequest { DowntimeLimitMs = downtimeLimitMs };
        var fabric = new List<Sample>();
        var failures = new List<string>();
        var direct = new List<Sample>();
        for (var round = 0; round < rounds; round++)
        {
            var measured = fabric.Count;
            async Task Fabric()
            {
                for (var leg = 0; leg < 2; leg++)
                {
                    var result = await MigrateThroughFabricAsync(client, request);
                    if (result.Sample is { } sample)
                    {
                        fabric.Add(sample);
                    }
                    else
                    {
                        failures.Add(result.Failure!);
                        progress.WriteLine($"    fabric migration FAILED: {result.Failure}");
                    }

                    await Task.Delay(Settle);
                }
            }

            async Task Direct()
            {
                foreach (var to in new[] { "host-b", "host-a" })
                {
                    direct.Add(await baseline.MigrateAsync(to, downtimeLimitMs));
                    await Task.Delay(Settle);
                }
            }

            if (round % 2 == 0)
            {
                await Fabric();
                await Direct();
            }
            else
            {
                await Direct();
                await Fabric();
            }

            progress.WriteLine($"    round {round + 1}/{rounds}: fabric {string.Join(", ", fabric.Skip(measured).Select(Describe))}; raw QMP {Describe(direct[^2])}, {Describe(direct[^1])}");
        }

        var launches = new Stats(direct.Where(s => s.LaunchMs is not null).Select(s => s.LaunchMs!.Value));
        progress.WriteLine($"    raw QMP: launching the target QEMU took {launches.Median:0} ms p50 (max {launches.Max:0} ms) of its total");
        var f = Figures("fabric", fabric, failures);
        var d = Figures("raw QMP + TLS (baseline)", direct, []);
        var ratio = f.TotalP50Ms / d.TotalP50Ms;
        var tuned = downtimeLimitMs == TunedDowntimeLimitMs;
        return new MigrateComparison(
            downtimeLimitMs,
            f,
            d,
            ratio,
            f.TotalP99Ms / d.TotalP99Ms,
            TotalRatioTarget,
            ratio <= TotalRatioTarget,
            tuned ? TunedPauseTargetMs : null,
            tuned ? f.PauseP99Ms is { } pause && pause <= TunedPauseTargetMs : null);
    }

    private static string Describe(Sample s) =>
        $"{s.TotalMs:0} ms (downtime {(s.DowntimeMs is { } d ? $"{d:0}" : "?")}, pause {(s.PauseMs is { } p ? $"{p:0}" : "?")})";

    private static MigrationFigures Figures(string path, List<Sample> samples, List<string> failures)
    {
        var total = new Stats(samples.Select(s => s.TotalMs));
        var qemuTotal = new Stats(samples.Where(s => s.QemuTotalMs is not null).Select(s => s.QemuTotalMs!.Value));
        var downtime = new Stats(samples.Where(s => s.DowntimeMs is not null).Select(s => s.DowntimeMs!.Value));
        var pause = new Stats(samples.Where(s => s.PauseMs is not null).Select(s => s.PauseMs!.Value));
        var call = new Stats(samples.Where(s => s.CallMs is not null).Select(s => s.CallMs!.Value));
        return new MigrationFigures(
            path,
            samples.Count,
            total.Median,
            total.P99,
            Known(qemuTotal, qemuTotal.Median),
            Known(downtime, downtime.Median),
            Known(downtime, downtime.P99),
            Known(pause, pause.Median),
            Known(pause, pause.P99),
            Known(call, call.Median),
            failures.Count,
            failures);
    }

    private static double? Known(Stats stats, double value) => stats.Count == 0 ? null : value;

    /// <summary>
    /// One migration through the fabric to the host the VM is not on: MigrationInfo's own figures and the client's wall
    /// time around it, or why it failed (the VM must still run somewhere for the benchmark to go on).
    /// </summary>
    private static async Task<(Sample? Sample, string? Failure)> MigrateThroughFabricAsync(FabricClient client, MigrationRequest request)
    {
        var from = (await client.GetVmAsync(LinuxVm)).Host;
        var to = Hosts.First(h => h != from);
        var clock = Stopwatch.StartNew();
        await client.MigrateVmAsync(LinuxVm, request with { TargetHost = to });
        using var timeout = new CancellationTokenSource(MigrationTimeout);
        var end = await client.WaitForMigrationAsync(LinuxVm, cancellationToken: timeout.Token);
        var call = clock.Elapsed.TotalMilliseconds;
        if (end.Phase == MigrationPhase.Succeeded)
        {
            return (new Sample(end.TotalMs, end.QemuTotalMs, end.DowntimeMs, end.GuestPauseMs, call), null);
        }

        var vm = await client.GetVmAsync(LinuxVm);
        if (vm.State != VmState.Running)
        {
            throw new InvalidOperationException($"the fabric's migration of {LinuxVm} {from} → {to} ended {end.Phase} ({end.Reason}), and the VM is {vm.State} on {vm.Host}");
        }

        return (null, $"{from} → {to} {end.Phase} after {end.TotalMs} ms in the fabric: {end.Reason}");
    }

    /// <summary>Snapshot create (the guest pause and the host's time) and restore (request to guest running again), then delete.</summary>
    private static async Task<SnapshotFigures> SnapshotsAsync(FabricClient client, int runs, TextWriter progress)
    {
        progress.WriteLine($"  snapshots of the linux guest: {runs} creates and restores");
        var taken = new List<SnapshotInfo>();
        var calls = new List<double>();
        var restores = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            var name = $"bench-{run}";
            var clock = Stopwatch.StartNew();
            var snapshot = await client.CreateSnapshotAsync(LinuxVm, name);
            calls.Add(clock.Elapsed.TotalMilliseconds);
            taken.Add(snapshot);
            await Task.Delay(Settle);

            clock.Restart();
            var restored = await client.RestoreSnapshotAsync(LinuxVm, name);
            restores.Add(clock.Elapsed.TotalMilliseconds);
            if (restored.State != VmState.Running)
            {
                throw new InvalidOperationException($"{LinuxVm} is {restored.State} after restoring snapshot {name}, not Running");
            }

            await client.DeleteSnapshotAsync(LinuxVm, name);
            progress.WriteLine($"    snapshot {run + 1}/{runs}: {snapshot.Method}, pause {snapshot.GuestPauseMs} ms, {snapshot.TotalMs} ms, {snapshot.SizeBytes / 1048576.0:0.0} MiB; restore {restores[^1]:0} ms");
            await Task.Delay(Settle);
        }

        var pause = new Stats(taken.Where(s => s.GuestPauseMs is not null).Select(s => (double)s.GuestPauseMs!.Value));
        var total = new Stats(taken.Select(s => (double)s.TotalMs));
        var restore = new Stats(restores);
        return new SnapshotFigures(
            runs,
            string.Join(", ", taken.Select(s => s.Method).Distinct()),
            new Stats(taken.Select(s => s.SizeBytes / 1048576.0)).Median,
            Known(pause, pause.Median),
            Known(pause, pause.Max),
            total.Median,
            total.Max,
            new Stats(calls).Median,
            restore.Median,
            restore.Max);
    }

    /// <summary>A fresh memwalk guest on host-a, walking, migrated to host-b with <paramref name="request"/>; then deleted.</summary>
    private static async Task<ConvergenceResult> ConvergeAsync(FabricClient client, string mode, MigrationRequest request, TextWriter progress)
    {
        var name = $"bench-walk-{mode}";
        progress.WriteLine($"  memwalk ({MemwalkMemoryMiB} MiB), {mode}: booting, then migrating to host-b");
        await client.CreateVmAsync(new VmSpec { Name = name, Image = "memwalk", MemoryMiB = MemwalkMemoryMiB, Placement = new VmPlacement { Host = "host-a" } });
        await client.StartVmAsync(name);
        // memwalk prints "pass <n>" about once a second with the passes done so far: two such lines, and it walks.
        await WaitForConsoleAsync(client, name, Pass(), count: 2);

        await client.MigrateVmAsync(name, request);
        using var timeout = new CancellationTokenSource(MigrationTimeout);
        var end = await client.WaitForMigrationAsync(name, cancellationToken: timeout.Token);
        var finished = end.Phase == MigrationPhase.Succeeded;
        progress.WriteLine($"    {mode}: {end.Phase} after {end.TotalMs} ms, {end.Passes} passes, throttle {end.ThrottlePercent} %, post-copy {end.Postcopy}, pause {end.GuestPauseMs} ms{(finished ? "" : $": {end.Reason}")}");
        await client.StopVmAsync(name, new StopOptions { Force = true });
        await client.DeleteVmAsync(name);
        return new ConvergenceResult(
            mode,
            finished,
            end.Phase.ToString(),
            finished ? null : end.Reason,
            end.TotalMs,
            end.GuestPauseMs,
            end.DowntimeMs,
            end.Passes,
            end.ThrottlePercent,
            end.Postcopy,
            end.TransferredBytes / 1048576.0);
    }

    /// <summary>Follows the VM's console until <paramref name="count"/> lines have matched <paramref name="pattern"/>.</summary>
    private static async Task WaitForConsoleAsync(FabricClient client, string vm, Regex pattern, int count = 1)
    {
        using var timeout = new CancellationTokenSource(BootTimeout);
        var seen = 0;
        await foreach (var line in client.ConsoleAsync(vm, follow: true, timeout.Token))
        {
            if (pattern.IsMatch(line) && ++seen >= count)
            {
                return;
            }
        }

        throw new TimeoutException($"vm {vm} printed {seen} of {count} lines matching '{pattern}' within {BootTimeout.TotalSeconds:0} s");
    }

    /// <summary>Polls a console log every few milliseconds until a line matches <paramref name="pattern"/>.</summary>
    private static async Task WaitForLogAsync(string log, Regex pattern, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (File.Exists(log))
            {
                try
                {
                    using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    using var reader = new StreamReader(stream);
                    if (pattern.IsMatch(await reader.ReadToEndAsync()))
                    {
                        return;
                    }
                }
                catch (IOException)
                {
                    // QEMU is (re)creating the file.
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no line matching '{pattern}' in {log} within {timeout.TotalSeconds:0} s");
    }

    /// <summary>The median of 5 runs of a short command, from start to exit.</summary>
    private static async Task<double> LaunchMsAsync((string Program, IReadOnlyList<string> Arguments) command)
    {
        var times = new List<double>();
        for (var run = 0; run < 5; run++)
        {
            var startInfo = new ProcessStartInfo(command.Program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in command.Arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }

            var clock = Stopwatch.StartNew();
            using var process = Process.Start(startInfo)!;
            await process.WaitForExitAsync();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        return new Stats(times).Median;
    }

    [GeneratedRegex(@"tick 2 boot=[0-9a-f]+")]
    private static partial Regex Tick2();

    [GeneratedRegex(@"tick \d+ boot=[0-9a-f]+")]
    private static partial Regex AnyTick();

    [GeneratedRegex(@"pass \d+ boot=[0-9a-f]+")]
    private static partial Regex Pass();

    /// <summary>
    /// One migration's figures (milliseconds). <see cref="QemuTotalMs"/>: QEMU's own <c>total-time</c> on the source, from
    /// <c>migrate</c> to its completion; <see cref="CallMs"/>: the client's wall time (fabric only).
    /// </summary>
    private sealed record Sample(double TotalMs, double? QemuTotalMs, double? DowntimeMs, double? PauseMs, double? CallMs)
    {
        /// <summary>The baseline's: launching its target QEMU until the monitor answered.</summary>
        public double? LaunchMs { get; init; }
    }

    /// <summary>
    /// The baseline: the fabric guest's QEMU command line run directly, moved between the hosts' namespaces by raw QMP
    /// (<see cref="Fabric.Hypervisor.Qmp.QmpClient"/>) with the steps the fabric takes: the target launched paused
    /// with <c>-incoming defer</c>, <c>migrate-set-capabilities</c> on both sides, <c>migrate-incoming</c> on the
    /// target's underlay address at port 0 (the port read back from <c>query-migrate</c>), <c>migrate-set-parameters</c>
    /// and <c>migrate</c> on the source, <c>query-migrate</c> on the target every 5 ms until completed, the source's
    /// figures read, <c>cont</c> on the target, <c>quit</c> to the source. The stream is encrypted as the fabric's is:
    /// a <c>tls-creds-x509</c> object on each side from the fabric CA and a certificate of that host (verify-peer), and
    /// <c>tls-creds</c> set on both, so the ratio measures the fabric, not TLS.
    /// </summary>
    private sealed class Baseline(FabricEnvironment environment, IReadOnlyList<string> command) : IAsyncDisposable
    {
        private static readonly TimeSpan IncomingPoll = TimeSpan.FromMilliseconds(5);

        /// <summary>The fabric command line's paths are those of host-a's data directory.</summary>
        private readonly string _fabricData = environment.Silos["host-a"].DataDirectory;

        private DirectQemu? _current;
        private string _host = "host-a";

        public async Task BootAsync()
        {
            _current = await LaunchAsync("host-a", incoming: false);
            _host = "host-a";
            await WaitForLogAsync(_current.Paths.ConsoleLog, Tick2(), BootTimeout);
        }

        /// <summary>The guest still ticks where it ended up (a console log starts empty in each new process).</summary>
        public Task AssertTicksAsync() => WaitForLogAsync(_current!.Paths.ConsoleLog, AnyTick(), TimeSpan.FromSeconds(30));

        public async Task<Sample> MigrateAsync(string to, int downtimeLimitMs)
        {
            var source = _current ?? throw new InvalidOperationException("the baseline guest is not booted");
            var address = environment.Silos[to].Address;
            var clock = Stopwatch.StartNew();
            var target = await LaunchAsync(to, incoming: true);
            var launched = clock.Elapsed.TotalMilliseconds;
            try
            {
                await SetCapabilitiesAsync(target);
                await UseTlsAsync(target, to, server: true);
                await target.Qmp.ExecuteAsync("migrate-incoming", new JsonObject { ["uri"] = $"tcp:{address}:0" });
                var port = Port(await target.Qmp.ExecuteAsync("query-migrate"));

                await SetCapabilitiesAsync(source);
                var tls = await UseTlsAsync(source, _host, server: false);
                await source.Qmp.ExecuteAsync("migrate-set-parameters", new JsonObject
                {
                    ["downtime-limit"] = downtimeLimitMs,
                    ["max-bandwidth"] = 1L << 40,
                    ["tls-creds"] = tls,
                });
                var sent = DateTimeOffset.UtcNow;
                await source.Qmp.ExecuteAsync("migrate", new JsonObject { ["uri"] = $"tcp:{address}:{port}" });

                while (true)
                {
                    var status = Status(await target.Qmp.ExecuteAsync("query-migrate"));
                    if (status == "completed")
                    {
                        break;
                    }

                    if (status is "failed" or "cancelled" || clock.Elapsed > MigrationTimeout)
                    {
                        throw new InvalidOperationException($"the raw QMP migration to {to} is {status} after {clock.Elapsed.TotalSeconds:0.0} s");
                    }

                    await Task.Delay(IncomingPoll);
                }

                var (qemuTotal, downtime) = await SourceFiguresAsync(source);
                await target.Qmp.ExecuteAsync("cont");
                await source.QuitAsync();
                var total = clock.Elapsed.TotalMilliseconds;

                var resumed = await target.WaitForResumeAsync(sent);
                var pause = source.StoppedAt is { } stopped && stopped >= sent && resumed is { } r && r >= stopped ? (r - stopped).TotalMilliseconds : (double?)null;
                await source.DisposeAsync();
                _current = target;
                _host = to;
                return new Sample(total, qemuTotal, downtime, pause, null) { LaunchMs = launched };
            }
            catch
            {
                await target.QuitAsync();
                await target.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_current is { } current)
            {
                await current.QuitAsync();
                await current.DisposeAsync();
                _current = null;
            }
        }

        /// <summary>
        /// What the driver's <c>StreamTls</c> does, by hand: the fabric CA and a certificate of <paramref name="host"/>
        /// (its underlay address in the SAN) copied into the names QEMU expects, a <c>tls-creds-x509</c> object with
        /// verify-peer, and on the target <c>tls-creds</c> set. Returns the object's id.
        /// </summary>
        private async Task<string> UseTlsAsync(DirectQemu qemu, string host, bool server)
        {
            var role = server ? "server" : "client";
            var id = $"baseline-tls-{role}";
            var directory = Path.Combine(qemu.Paths.Directory, id);
            Directory.CreateDirectory(directory);
            var (certificate, key) = environment.Pki.IssueHost($"baseline-{host}", IPAddress.Parse(environment.Silos[host].Address));
            File.Copy(environment.Pki.CaFile, Path.Combine(directory, "ca-cert.pem"), overwrite: true);
            File.Copy(certificate, Path.Combine(directory, $"{role}-cert.pem"), overwrite: true);
            File.Copy(key, Path.Combine(directory, $"{role}-key.pem"), overwrite: true);
            await qemu.Qmp.ExecuteAsync("object-add", new JsonObject
            {
                ["qom-type"] = "tls-creds-x509",
                ["id"] = id,
                ["dir"] = directory,
                ["endpoint"] = role,
                ["verify-peer"] = true,
            });
            if (server)
            {
                await qemu.Qmp.ExecuteAsync("migrate-set-parameters", new JsonObject { ["tls-creds"] = id });
            }

            return id;
        }

        private Task<DirectQemu> LaunchAsync(string host, bool incoming) =>
            DirectQemu.LaunchAsync(command, _fabricData, Path.Combine(environment.Directory, "baseline", host), LinuxVm, incoming, environment.Underlay, host);

        /// <summary>The fabric's capabilities (QemuDriver.Migration.cs): the same on both sides.</summary>
        private static Task<JsonElement> SetCapabilitiesAsync(DirectQemu qemu) =>
            qemu.Qmp.ExecuteAsync("migrate-set-capabilities", new JsonObject
            {
                ["capabilities"] = new JsonArray
                {
                    Capability("validate-uuid", true),
                    Capability("postcopy-ram", false),
                    Capability("auto-converge", false),
                    Capability("background-snapshot", false),
                },
            });

        private static JsonObject Capability(string name, bool state) => new() { ["capability"] = name, ["state"] = state };

        /// <summary>The source's total-time and downtime figures, once it too says completed (it may lag the target by a moment).</summary>
        private static async Task<(double? TotalMs, double? DowntimeMs)> SourceFiguresAsync(DirectQemu source)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var info = await source.Qmp.ExecuteAsync("query-migrate");
                if (Status(info) == "completed")
                {
                    return (Number(info, "total-time"), Number(info, "downtime"));
                }

                await Task.Delay(IncomingPoll);
            }

            return (null, null);
        }

        private static double? Number(JsonElement info, string property) =>
            info.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;

        private static string? Status(JsonElement info) =>
            info.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String ? status.GetString() : null;

        private static string Port(JsonElement info)
        {
            if (info.TryGetProperty("socket-address", out var sockets) && sockets.ValueKind == JsonValueKind.Array)
            {
                foreach (var socket in sockets.EnumerateArray())
                {
                    if (socket.TryGetProperty("port", out var port) && port.GetString() is { } text)
                    {
                        return text;
                    }
                }
            }

            throw new InvalidOperationException("the target QEMU listens but did not say on which port");
        }
    }
}
