using System.Globalization;
using Spectre.Console;

namespace Fabric.Bench;

/// <summary>The benchmark tables for people (JSON is for programs).</summary>
internal static class Tables
{
    public static void Print(StartReport report)
    {
        var table = new Table().Title($"start: API call → ready line (accelerator {report.Accelerator})");
        foreach (var column in new[] { "guest", "runs", "fabric p50", "direct p50", "ratio", "start call p50", "direct daemonized p50", "fabric min", "direct min", "QEMU RSS fabric", "QEMU RSS direct" })
        {
            table.AddColumn(column);
        }

        foreach (var g in report.Guests)
        {
            table.AddRow(g.Image, N(g.Runs), Ms(g.FabricMedianMs), Ms(g.DirectMedianMs), $"{g.Ratio:0.000}×", Ms(g.StartCallMedianMs), Ms(g.DirectDaemonizedMedianMs), Ms(g.FabricMinMs), Ms(g.DirectMinMs), MiB(g.FabricQemuRssMiB), MiB(g.DirectQemuRssMiB));
        }

        AnsiConsole.Write(table);
        AnsiConsole.WriteLine($"accelerator: {report.Accelerator} ({report.AcceleratorReason})");
        AnsiConsole.WriteLine($"silo RSS after the runs: {report.SiloRssMiB:0.0} MiB");
    }

    public static void Print(DetectReport report)
    {
        var table = new Table().Title($"detect: kill -9 of a host silo → host shown Down ({report.Hosts} host silos)");
        foreach (var column in new[] { "failure detection", "kills", "median", "min", "max" })
        {
            table.AddColumn(column);
        }

        foreach (var mode in report.Modes)
        {
            table.AddRow(mode.Mode, N(mode.Kills), $"{mode.MedianSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s", $"{mode.MinSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s", $"{mode.MaxSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        }

        AnsiConsole.Write(table);
    }

    public static void Print(FleetReport report)
    {
        var table = new Table().Title($"fleet: {report.Driver} driver (SIMULATION), {report.Concurrency} concurrent operations");
        foreach (var column in new[] { "silos", "hosts", "VMs", "operation", "ops/s", "p50", "p99", "failed" })
        {
            table.AddColumn(column);
        }

        foreach (var run in report.Runs)
        {
            foreach (var phase in run.Phases)
            {
                table.AddRow(N(run.Silos), N(run.Hosts), N(run.Vms), phase.Operation, N(phase.OpsPerSecond), Ms(phase.P50Ms), Ms(phase.P99Ms), N(phase.Failed));
            }

            table.AddRow(N(run.Silos), N(run.Hosts), N(run.Vms), "[bold]lifecycle[/]", $"[bold]{N(run.LifecycleOpsPerSecond)}[/]", "", "", "");
            var b = run.RedisBaseline;
            table.AddRow(N(run.Silos), N(run.Hosts), N(run.Vms), "[dim]baseline: plain Redis HSET[/]", $"[dim]{N(b.OpsPerSecond)}[/]", $"[dim]{Ms(b.P50Ms)}[/]", $"[dim]{Ms(b.P99Ms)}[/]", $"[dim]lifecycle/baseline {(run.LifecycleOpsPerSecond / b.OpsPerSecond).ToString("0.00", CultureInfo.InvariantCulture)}×[/]");
        }

        AnsiConsole.Write(table);
        var memory = new Table().Title("silo memory per VM, grains active (after a forced GC, minus the empty fabric)");
        foreach (var column in new[] { "silos", "VMs", "RSS/VM", "GC heap/VM", "silo RSS empty", "silo RSS full" })
        {
            memory.AddColumn(column);
        }

        foreach (var run in report.Runs)
        {
            memory.AddRow(N(run.Silos), N(run.Vms), Bytes(run.RssBytesPerVm), Bytes(run.HeapBytesPerVm), MiB(run.EmptySiloRssMiB), MiB(run.FullSiloRssMiB));
        }

        AnsiConsole.Write(memory);
    }

    private static string N(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Ms(double value) => $"{value.ToString("0.0", CultureInfo.InvariantCulture)} ms";

    private static string MiB(double value) => $"{value.ToString("0.0", CultureInfo.InvariantCulture)} MiB";

    private static string Bytes(double value) => $"{(value / 1024).ToString("0.00", CultureInfo.InvariantCulture)} KiB";
}
