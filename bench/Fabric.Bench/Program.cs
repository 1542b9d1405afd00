using System.Globalization;
using System.Text.Json;
using Fabric.Bench;
using Spectre.Console;

// ./fabric bench [start|fleet] [-o json] [--runs N] [--vms 10000,100000] [--silos 1,3] [--concurrency N]
var benchmarks = new List<string>();
var json = false;
var runs = 10;
var sizes = new List<int> { 10_000, 100_000 };
var siloCounts = new List<int> { 1, 3 };
var concurrency = 48;
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    List<int> Numbers() => [.. Next().Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture))];
    switch (args[i])
    {
        case "-o" when Next() == "json":
            json = true;
            break;
        case "--runs":
            runs = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--vms":
            sizes = Numbers();
            break;
        case "--silos":
            siloCounts = Numbers();
            break;
        case "--concurrency":
            concurrency = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "start" or "fleet":
            benchmarks.Add(args[i]);
            break;
        default:
            Console.Error.WriteLine($"error: invalid-spec: unknown benchmark or option '{args[i]}' (benchmarks: start, fleet)");
            return 2;
    }
}

if (benchmarks.Count == 0)
{
    benchmarks.AddRange(["start", "fleet"]);
}

// Tables are read in logs and CI output too: do not wrap them at 80 columns there.
if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 200;
}

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

if (benchmarks.Contains("fleet"))
{
    var report = await FleetBenchmark.RunAsync(sizes, concurrency, siloCounts, progress);
    results["fleet"] = report;
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
