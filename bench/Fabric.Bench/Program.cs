using System.Globalization;
using System.Text.Json;
using Fabric.Bench;
using Fabric.TestSupport;
using Spectre.Console;

// ./fabric bench [start|detect|fleet|migrate|storage|network|cli] [-o json] [--runs N] [--rounds N] [--vms 10000,100000] [--silos 1,3] [--concurrency N] [--loopback]
var benchmarks = new List<string>();
var json = false;
// Unset: each benchmark's own default (10 and 5; network: 50 pings and 3 rounds).
int? runsOption = null;
int? roundsOption = null;
var sizes = new List<int> { 10_000, 100_000 };
var siloCounts = new List<int> { 1, 3 };
var concurrency = 32;
var hold = TimeSpan.Zero;
var loopback = false;
try
{
    ParseArguments();
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"error: invalid-spec: {ex.Message}");
    return 2;
}

if (benchmarks.Count == 0)
{
    benchmarks.AddRange(["start", "detect", "fleet", "migrate", "storage", "network", "cli"]);
}

// Tables are read in logs and CI output too: do not wrap them at 80 columns there.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 200;
}

var runs = runsOption ?? 10;
var rounds = roundsOption ?? 5;
var results = new Dictionary<string, object>();
var progress = Console.Error;
if (benchmarks.Contains("start"))
{
    progress.WriteLine("start: API call to ready line, through the fabric vs the same QEMU command line launched directly");
    var report = await StartBenchmark.RunAsync(runs, Math.Max(3, runs / 2), progress);
    results["start"] = report;
    if (!json)
    {
        Tables.Print(report);
    }
}

if (benchmarks.Contains("detect"))
{
    var topology = DetectBenchmark.ChooseTopology(loopback);
    progress.WriteLine($"detect: kill -9 of a host silo to the host shown Down, tuned vs Orleans' default failure detection ({topology.ToString().ToLowerInvariant()} topology)");
    var report = await DetectBenchmark.RunAsync(Math.Max(3, runs / 2), topology, progress);
    results["detect"] = report;
    if (!json)
    {
        Console.WriteLine(topology == NetworkTopology.Namespaces
            ? "detect topology: namespaces (each host silo in its own network namespace and address, joined by a bridge)"
            : "detect topology: loopback (every host silo on 127.0.0.1)");
        Tables.Print(report);
    }
}

if (benchmarks.Contains("fleet"))
{
    var report = await FleetBenchmark.RunAsync(sizes, concurrency, siloCounts, hold, progress);
    results["fleet"] = report;
    if (!json)
    {
        Tables.Print(report);
    }
}

if (benchmarks.Contains("migrate"))
{
    var topology = DetectBenchmark.ChooseTopology(loopback);
    progress.WriteLine($"migrate: live migration through the fabric vs raw QMP, memwalk convergence, snapshots ({topology.ToString().ToLowerInvariant()} topology)");
    var report = await MigrateBenchmark.RunAsync(rounds, topology, progress);
    results["migrate"] = report;
    if (!json)
    {
        Tables.Print(report);
    }
}

if (benchmarks.Contains("storage"))
{
    var topology = DetectBenchmark.ChooseTopology(loopback);
    progress.WriteLine($"storage: provisioning from an image, 100 volumes, live migration with a disk, each against a baseline in the same run ({topology.ToString().ToLowerInvariant()} topology)");
    var report = await StorageBenchmark.RunAsync(runs, rounds, topology, progress);
    results["storage"] = report;
    if (!json)
    {
        Tables.Print(report);
    }
}

if (benchmarks.Contains("network"))
{
    if (NetworkBenchmark.UnavailableReason(loopback) is { } why)
    {
        progress.WriteLine($"network: skipped: {why}");
        results["network"] = new Dictionary<string, string> { ["skipped"] = why };
    }
    else
    {
        progress.WriteLine("network: guest-to-guest latency and throughput over a virtual network (VXLAN across hosts, a bridge on one host) vs the raw underlay, and packets lost through live migrations (namespaces topology)");
        var report = await NetworkBenchmark.RunAsync(runsOption ?? NetworkBenchmark.DefaultPings, roundsOption ?? NetworkBenchmark.DefaultRounds, progress);
        results["network"] = report;
        if (!json)
        {
            Tables.Print(report);
        }
    }
}

if (benchmarks.Contains("cli"))
{
    progress.WriteLine("cli: fabricctl commands as fresh processes against the REST API vs curl of the same endpoints (and virsh where libvirt runs); create + start of the tiny guest to its ready line vs virsh create");
    if (!OperatingSystem.IsLinux())
    {
        throw new PlatformNotSupportedException("the cli benchmark runs on Linux");
    }

    var report = await CliBenchmark.RunAsync(runsOption ?? CliBenchmark.DefaultRuns, progress);
    results["cli"] = report;
    if (!json)
    {
        Tables.Print(report);
    }
}

if (json)
{
    Console.WriteLine(JsonSerializer.Serialize(results, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
}

return 0;

void ParseArguments()
{
    for (var i = 0; i < args.Length; i++)
    {
        var option = args[i];
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{option} needs a value");
        int Number() => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{option}: '{args[i]}' is not a positive number");
        List<int> Numbers() => [.. Next().Split(',').Select(text => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{option}: '{text}' is not a positive number"))];
        switch (option)
        {
            case "-o":
                json = Next() == "json" ? true : throw new ArgumentException("-o: only json is supported");
                break;
            case "--runs":
                runsOption = Number();
                break;
            case "--rounds":
                roundsOption = Number();
                break;
            case "--vms":
                sizes = Numbers();
                break;
            case "--silos":
                siloCounts = Numbers();
                break;
            case "--concurrency":
                concurrency = Number();
                break;
            case "--hold":
                hold = TimeSpan.FromSeconds(Number());
                break;
            case "--loopback":
                loopback = true;
                break;
            case "start" or "fleet" or "detect" or "migrate" or "storage" or "network" or "cli":
                benchmarks.Add(option);
                break;
            default:
                throw new ArgumentException($"unknown benchmark or option '{option}' (benchmarks: start, detect, fleet, migrate, storage, network, cli; options: -o json, --runs N, --rounds N, --vms N[,N], --silos N[,N], --concurrency N, --hold SECONDS, --loopback)");
        }
    }
}
