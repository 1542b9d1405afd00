using System.Diagnostics;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One guest's figures: through the fabric and launched directly, alternating, in one run.</summary>
internal sealed record StartResult(
    string Image,
    int Runs,
    double FabricMedianMs,
    double DirectMedianMs,
    double Ratio,
    double StartCallMedianMs,
    double DirectDaemonizedMedianMs,
    double FabricMinMs,
    double DirectMinMs,
    double FabricQemuRssMiB,
    double DirectQemuRssMiB);

/// <summary>All of <c>./fabric bench start</c>.</summary>
internal sealed record StartReport(string Accelerator, string AcceleratorReason, double SiloRssMiB, IReadOnlyList<StartResult> Guests);

/// <summary>
/// Time from the API call to the guest's ready line, through the fabric (client → VM grain → host grain → driver →
/// QEMU) against the same QEMU command line launched directly, alternating which goes first. Both sides detect the
/// ready line the same way: by watching the console log QEMU writes.
/// </summary>
internal static class StartBenchmark
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public static async Task<StartReport> RunAsync(int tinyRuns, int linuxRuns, TextWriter progress)
    {
        await using var environment = await FabricEnvironment.StartAsync(NetworkTopology.Loopback, FabricEnvironment.ProductionDefaults, "host-a");
        var client = await environment.ConnectAsync();
        var host = await client.GetHostAsync("host-a");
        var results = new List<StartResult>();
        foreach (var (image, memory, runs) in new[] { ("tiny", 16, tinyRuns), ("linux", 256, linuxRuns) })
        {
            results.Add(await MeasureAsync(environment, client, image, memory, runs, progress));
        }

        var siloRss = Processes.ResidentBytes(environment.Silos["host-a"].Process.Pid) ?? 0;
        return new StartReport(host.Accelerator, host.AcceleratorReason, siloRss / 1048576.0, results);
    }

    private static async Task<StartResult> MeasureAsync(FabricEnvironment environment, FabricClient client, string image, int memory, int runs, TextWriter progress)
    {
        var fabric = new List<double>();
        var direct = new List<double>();
        var startCalls = new List<double>();
        var monitorUp = new List<double>();
        var fabricRss = new List<double>();
        var directRss = new List<double>();
        var baseline = Path.Combine(environment.Directory, "direct");

        // One untimed warm-up of each path (JIT, page cache); the direct path reuses the fabric's latest command line.
        var latest = await ThroughFabricAsync(environment, client, $"warm-{image}", image, memory);
        await DirectlyAsync(latest.Arguments, environment.Silos["host-a"].DataDirectory, baseline);

        for (var run = 0; run < runs; run++)
        {
            var name = $"bench-{image}-{run}";
            async Task Fabric()
            {
                var measured = await ThroughFabricAsync(environment, client, name, image, memory);
                fabric.Add(measured.ReadyMs);
                startCalls.Add(measured.StartCallMs);
                fabricRss.Add(measured.RssMiB);
                latest = measured;
            }

            async Task Direct()
            {
                var measured = await DirectlyAsync(latest.Arguments, environment.Silos["host-a"].DataDirectory, baseline);
                direct.Add(measured.ReadyMs);
                monitorUp.Add(measured.StartCallMs);
                directRss.Add(measured.RssMiB);
            }

            if (run % 2 == 0)
            {
                await Fabric();
                await Direct();
            }
            else
            {
                await Direct();
                await Fabric();
            }

            progress.WriteLine($"  {image} run {run + 1}/{runs}: fabric {fabric[^1]:0.0} ms, direct {direct[^1]:0.0} ms");
        }

        var f = new Stats(fabric);
        var d = new Stats(direct);
        return new StartResult(image, runs, f.Median, d.Median, f.Median / d.Median, new Stats(startCalls).Median, new Stats(monitorUp).Median, f.Min, d.Min, new Stats(fabricRss).Median, new Stats(directRss).Median);
    }

    private sealed record Measured(double ReadyMs, double StartCallMs, double RssMiB, IReadOnlyList<string> Arguments);

    private static async Task<Measured> ThroughFabricAsync(FabricEnvironment environment, FabricClient client, string name, string image, int memory)
    {
        await client.CreateVmAsync(new VmSpec { Name = name, Image = image, MemoryMiB = memory, Placement = new VmPlacement { Host = "host-a" } });
        var log = Path.Combine(environment.Silos["host-a"].DataDirectory, "vms", name, "console.log");

        var clock = Stopwatch.StartNew();
        var started = await client.StartVmAsync(name);
        var startCall = clock.Elapsed.TotalMilliseconds;
        await WaitForReadyAsync(log);
        var ready = clock.Elapsed.TotalMilliseconds;

        var pid = started.Pid!.Value;
        var arguments = Processes.Arguments(pid);
        var rss = (Processes.ResidentBytes(pid) ?? 0) / 1048576.0;
        await client.StopVmAsync(name, new StopOptions { Force = true });
        await client.DeleteVmAsync(name);
        return new Measured(ready, startCall, rss, arguments);
    }

    /// <summary>
    /// Launches the fabric's own QEMU command line directly, as root and unconfined, its paths moved under
    /// <paramref name="baseline"/>. Its "start call" is the time until QEMU's monitor accepts a connection: the point
    /// where the fabric's start call can return at the earliest.
    /// </summary>
    private static async Task<Measured> DirectlyAsync(IReadOnlyList<string> fabricArguments, string dataDirectory, string baseline)
    {
        if (Directory.Exists(baseline))
        {
            Directory.Delete(baseline, recursive: true);
        }

        var arguments = fabricArguments.Skip(1).Select(a => a.Replace(dataDirectory, baseline, StringComparison.Ordinal)).ToList();
        var runDirectory = Path.GetDirectoryName(arguments[arguments.IndexOf("-pidfile") + 1])!;
        var log = OptionOf(arguments, "id=console", "logfile");
        Directory.CreateDirectory(runDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);

        var clock = Stopwatch.StartNew();
        var (qemu, qmp) = await DirectQemu.StartAsync(fabricArguments[0], arguments, OptionOf(arguments, "id=qmp", "path"));
        var launched = clock.Elapsed.TotalMilliseconds;
        await qmp.DisposeAsync();
        using (qemu)
        {
            await WaitForReadyAsync(log);
            var ready = clock.Elapsed.TotalMilliseconds;
            var rss = (Processes.ResidentBytes(qemu.Id) ?? 0) / 1048576.0;
            qemu.Kill();
            await qemu.WaitForExitAsync();
            return new Measured(ready, launched, rss, fabricArguments);
        }
    }

    /// <summary>The value of <paramref name="key"/> in the <c>-chardev</c> argument that contains <paramref name="id"/>.</summary>
    private static string OptionOf(IReadOnlyList<string> arguments, string id, string key) =>
        arguments.Where(a => a.Contains(id, StringComparison.Ordinal))
            .SelectMany(a => a.Split(','))
            .Where(part => part.StartsWith(key + "=", StringComparison.Ordinal))
            .Select(part => part[(key.Length + 1)..])
            .First();

    /// <summary>Polls the console log every millisecond until the ready line is in it.</summary>
    internal static async Task WaitForReadyAsync(string log)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            if (File.Exists(log))
            {
                try
                {
                    using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    using var reader = new StreamReader(stream);
                    if ((await reader.ReadToEndAsync()).Contains("fabric-guest ready boot=", StringComparison.Ordinal))
                    {
                        return;
                    }
                }
                catch (IOException)
                {
                    // QEMU is (re)creating the file.
                }
            }

            await Task.Delay(1);
        }

        throw new TimeoutException($"no ready line in {log} within {ReadyTimeout.TotalSeconds:0} s");
    }
}
