using System.Globalization;
using Spectre.Console;

namespace Fabric.Bench;

/// <summary>The benchmark tables for people (JSON is for programs).</summary>
internal static class Tables
{
    public static void Print(StartReport report)
    {
        var table = new Table().Title($"start: API call → ready line (accelerator {report.Accelerator})");
        foreach (var column in new[] { "guest", "runs", "fabric p50", "direct p50", "ratio", "start call p50", "direct monitor up p50", "fabric min", "direct min", "QEMU RSS fabric", "QEMU RSS direct" })
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

    public static void Print(MigrateReport report)
    {
        var linux = new Table().Title($"migrate: the linux guest (256 MiB, ticking) host-a ⇄ host-b, {report.Rounds} rounds there and back per path ({report.Topology} topology, accelerator {report.Accelerator})");
        foreach (var column in new[] { "downtime limit", "path", "migrations", "failed", "total p50", "total p99", "fabric/baseline p50", "QEMU total p50", "QEMU downtime p50", "downtime p99", "guest pause p50", "pause p99", "client call p50" })
        {
            linux.AddColumn(column);
        }

        foreach (var c in report.Linux)
        {
            foreach (var f in new[] { c.Fabric, c.Baseline })
            {
                var ratio = f == c.Fabric ? $"{Ratio(c.TotalRatio)} (≤ {Ratio(c.TotalRatioTarget)}: {Met(c.TotalRatioMet)})" : "";
                linux.AddRow($"{N(c.DowntimeLimitMs)} ms", f.Path, N(f.Migrations), N(f.Failed), Ms(f.TotalP50Ms), Ms(f.TotalP99Ms), ratio, Ms(f.QemuTotalP50Ms), Ms(f.DowntimeP50Ms), Ms(f.DowntimeP99Ms), Ms(f.PauseP50Ms), Ms(f.PauseP99Ms), Ms(f.CallP50Ms));
            }
        }

        AnsiConsole.Write(linux);

        var request = report.MemwalkRequest;
        var memwalk = new Table().Title($"migrate: memwalk ({report.MemwalkMemoryMiB} MiB, dirtying every page) host-a → host-b through the fabric, stream capped at {(request.BandwidthBytesPerSecond ?? 0) / 1048576} MiB/s, downtime limit {request.DowntimeLimitMs} ms");
        foreach (var column in new[] { "mode", "finished", "outcome", "total", "guest pause", "QEMU downtime", "passes", "throttle", "post-copy", "sent", "reason" })
        {
            memwalk.AddColumn(column);
        }

        foreach (var m in report.Memwalk)
        {
            memwalk.AddRow(m.Mode, m.Finished ? "yes" : "no", m.Outcome, Ms(m.TotalMs), Ms(m.GuestPauseMs), Ms(m.DowntimeMs), N(m.Passes), $"{m.ThrottlePercent} %", m.Postcopy ? "yes" : "no", MiB(m.TransferredMiB), Markup.Escape(m.Reason ?? "-"));
        }

        AnsiConsole.Write(memwalk);
        AnsiConsole.WriteLine($"silo settings for this run (production defaults otherwise): {string.Join(", ", report.SiloSettings.Select(s => $"{s.Key}={s.Value}"))}");

        var snap = report.Snapshots;
        var snapshots = new Table().Title($"migrate: snapshots of the linux guest (256 MiB) through the fabric, {snap.Runs} runs");
        foreach (var column in new[] { "method", "size", "guest pause p50", "pause max", "create p50", "create max", "create call p50", "restore p50", "restore max" })
        {
            snapshots.AddColumn(column);
        }

        snapshots.AddRow(snap.Method, MiB(snap.SizeMiB), Ms(snap.PauseP50Ms), Ms(snap.PauseMaxMs), Ms(snap.CreateP50Ms), Ms(snap.CreateMaxMs), Ms(snap.CreateCallP50Ms), Ms(snap.RestoreP50Ms), Ms(snap.RestoreMaxMs));
        AnsiConsole.Write(snapshots);

        AnsiConsole.WriteLine("what the figures mean:");
        foreach (var line in MigrateLegend)
        {
            AnsiConsole.WriteLine($"  - {line}");
        }

        AnsiConsole.WriteLine("targets and notes:");
        foreach (var note in report.Notes)
        {
            AnsiConsole.WriteLine($"  - {note}");
        }
    }

    public static void Print(StorageReport report)
    {
        var p = report.Provision;
        var provision = new Table().Title($"storage: a VM created with a disk from an image (a {p.ImageVirtualMiB:0} MiB {p.ImageFormat} holding {p.ImageDataMiB:0} MiB of random data, {p.ImageAllocatedMiB:0.0} MiB on disk) in a shared pool, {p.Runs} runs per path (pools on {report.PoolFilesystem})");
        foreach (var column in new[] { "provisioning", "path", "runs", "p50", "min", "max", "volume on disk p50", "÷ raw qemu-img p50" })
        {
            provision.AddColumn(column);
        }

        foreach (var row in p.Rows)
        {
            var fabric = row.Path.StartsWith("fabric", StringComparison.Ordinal);
            var path = fabric ? $"[bold]{Markup.Escape(row.Path)}[/]" : Markup.Escape(row.Path);
            provision.AddRow(row.Provisioning, path, N(row.Runs), Ms(row.P50Ms), Ms(row.MinMs), Ms(row.MaxMs), MiB(row.AllocatedMiB), row.VsRawP50 is { } r ? Ratio(r) : "");
        }

        AnsiConsole.Write(provision);
        AnsiConsole.WriteLine($"full copy ÷ linked clone, p50: {Ratio(p.FullOverLinkedFabric)} through the fabric, {Ratio(p.FullOverLinkedRaw)} for the qemu-img command alone");
        AnsiConsole.WriteLine("the host's steps run directly, p50: " + string.Join("; ", p.Steps.Select(s => $"{s.Provisioning}: info --backing-chain {Ms(s.ChainInfoP50Ms)}, command {Ms(s.CommandP50Ms)}, info {Ms(s.InfoP50Ms)}, fsync {Ms(s.FsyncP50Ms)}")));

        var v = report.Volumes;
        var volumes = new Table().Title($"storage: {N(v.Volumes)} empty thin {v.SizeMiB:0} MiB qcow2 volumes in a shared pool");
        foreach (var column in new[] { "operation", "path", "volumes", "in flight", "ops/s", "p50", "p99", "fabric ÷ raw ops/s" })
        {
            volumes.AddColumn(column);
        }

        foreach (var row in v.Rows)
        {
            var fabric = row.Path.StartsWith("fabric", StringComparison.Ordinal);
            var path = fabric ? $"[bold]{Markup.Escape(row.Path)}[/]" : Markup.Escape(row.Path);
            volumes.AddRow(row.Operation, path, N(row.Volumes), N(row.Concurrency), Rate(row.OpsPerSecond), Ms(row.P50Ms), Ms(row.P99Ms), row.FabricOverRaw is { } r ? Ratio(r) : "");
        }

        AnsiConsole.Write(volumes);

        var m = report.Migration;
        var migration = new Table().Title($"storage: live migration of the linux guest ({m.MemoryMiB} MiB, ticking) host-a ⇄ host-b through the fabric, {m.Rounds} rounds there and back, with no disk and with a {m.DiskMiB:0} MiB disk holding ext2 and {m.DataMiB:0} MiB of random data (in RAM without a disk; {report.Topology} topology, accelerator {report.Accelerator})");
        foreach (var column in new[] { "disk", "on disk", "migrations", "failed", "total p50", "total max", "÷ no disk p50", "sent p50", "QEMU total p50", "guest pause p50", "client call p50", "guest's data afterwards, or why not measured" })
        {
            migration.AddColumn(column);
        }

        foreach (var row in m.Rows)
        {
            var disk = row.DiskAllocatedMiB is { } allocated ? MiB(allocated) : "-";
            if (row.Refused is { } refused)
            {
                migration.AddRow(Markup.Escape(row.Disk), disk, N(row.Migrations), N(row.Failed), "[yellow]refused[/]", "-", "-", "-", "-", "-", "-", $"[yellow]refused: {Markup.Escape(refused)}[/]");
                continue;
            }

            migration.AddRow(Markup.Escape(row.Disk), disk, N(row.Migrations), N(row.Failed), Ms(row.TotalP50Ms), Ms(row.TotalMaxMs), row.VsNoDiskP50 is { } r ? Ratio(r) : "n/a", row.TransferredP50MiB is { } sent ? MiB(sent) : "n/a", Ms(row.QemuTotalP50Ms), Ms(row.PauseP50Ms), Ms(row.CallP50Ms), Markup.Escape(row.DataCheck ?? "-"));
        }

        AnsiConsole.Write(migration);

        AnsiConsole.WriteLine("what the figures mean:");
        foreach (var line in StorageLegend)
        {
            AnsiConsole.WriteLine($"  - {line}");
        }

        AnsiConsole.WriteLine("notes:");
        foreach (var note in report.Notes)
        {
            AnsiConsole.WriteLine($"  - {note}");
        }
    }

    public static void Print(NetworkReport report)
    {
        var latency = new Table().Title($"network: ping round trips, {report.Pings} pings {report.PingIntervalMs:0} ms apart per path (linux guests of {report.GuestMemoryMiB} MiB under {report.Accelerator}, guest MTU {report.GuestMtu}; {report.Topology} topology)");
        foreach (var column in new[] { "path", "between", "answered", "min", "avg", "p50", "max", "avg ÷ underlay", "p50 ÷ underlay" })
        {
            latency.AddColumn(column);
        }

        foreach (var row in report.Latency)
        {
            var baseline = row.Path.StartsWith("raw", StringComparison.Ordinal);
            latency.AddRow(Markup.Escape(row.Path), Markup.Escape(row.Between), $"{N(row.Received)}/{N(row.Sent)}", Rtt(row.MinMs), Rtt(row.AvgMs), Rtt(row.P50Ms), Rtt(row.MaxMs), baseline ? "" : $"[bold]{Ratio(row.AvgVsUnderlay)}[/]", baseline ? "" : $"[bold]{Ratio(row.P50VsUnderlay)}[/]");
        }

        AnsiConsole.Write(latency);

        var throughput = new Table().Title("network: TCP bulk transfer, one connection, zeroes from dd through nc (busybox on every path), timed by the sender");
        foreach (var column in new[] { "path", "between", "tool", "transfers", "per transfer", "MiB/s p50", "min", "max", "p50 ÷ underlay (same tool)" })
        {
            throughput.AddColumn(column);
        }

        foreach (var row in report.Throughput)
        {
            throughput.AddRow(Markup.Escape(row.Path), Markup.Escape(row.Between), Markup.Escape(row.Tool), N(row.Transfers), row.MiBPerTransfer is { } size ? MiB(size) : "3 s", Rate(row.P50MiBps), Rate(row.MinMiBps), Rate(row.MaxMiBps), row.VsUnderlay is { } r ? (row.Path.StartsWith("raw", StringComparison.Ordinal) ? Ratio(r) : $"[bold]{Ratio(r)}[/]") : "");
        }

        AnsiConsole.Write(throughput);

        var m = report.Migration;
        var loss = new Table().Title($"network: a ping every {m.IntervalMs:0} ms through live migrations of its target, {m.Rounds} × (host-b → host-a → host-b), {m.PingsPerMigration} pings per migration");
        foreach (var column in new[] { "round", "migration", "sent", "lost", "longest run lost", "guest pause", "pause ÷ interval (expected loss)", "migration total" })
        {
            loss.AddColumn(column);
        }

        foreach (var row in m.Migrations)
        {
            loss.AddRow(N(row.Round), $"{row.From} → {row.To}", N(row.Sent), $"[bold]{N(row.Lost)}[/]", N(row.LongestGap), WholeMs(row.GuestPauseMs), row.PauseOverInterval is { } e ? e.ToString("0.0", CultureInfo.InvariantCulture) : "n/a", WholeMs(row.TotalMs));
        }

        loss.AddRow("[bold]p50[/]", "", "", $"[bold]{Count(m.LostP50)}[/]", "", Ms(m.PauseP50Ms), m.PauseOverIntervalP50 is { } p ? p.ToString("0.0", CultureInfo.InvariantCulture) : "n/a", "");
        loss.AddRow("[bold]max[/]", "", "", $"[bold]{Count(m.LostMax)}[/]", "", Ms(m.PauseMaxMs), "", "");
        AnsiConsole.Write(loss);

        AnsiConsole.WriteLine($"machine load (1-minute average): {report.LoadAverageAtStart.ToString("0.0", CultureInfo.InvariantCulture)} at the start, {report.LoadAverageAtEnd.ToString("0.0", CultureInfo.InvariantCulture)} at the end");
        AnsiConsole.WriteLine("what the figures mean:");
        foreach (var line in NetworkLegend)
        {
            AnsiConsole.WriteLine($"  - {line}");
        }

        foreach (var failure in m.Failures)
        {
            AnsiConsole.WriteLine($"  - a migration FAILED (left out of the figures): {failure}");
        }

        foreach (var note in report.Notes)
        {
            AnsiConsole.WriteLine($"  - {note}");
        }
    }

    public static void Print(CliReport report)
    {
        var calls = new Table().Title($"cli: one command, a fresh process each run (as ./fabric ctl runs it), {report.Runs} runs each in alternating order (accelerator {report.Accelerator}; baseline {report.Baseline})");
        foreach (var column in new[] { "command", "what", "runs", "failed", "p50", "p90", "min", "÷ curl p50", "÷ virsh list p50" })
        {
            calls.AddColumn(column);
        }

        foreach (var c in report.Calls)
        {
            var command = c.Kind == "fabricctl" ? $"[bold]{Markup.Escape(c.Command)}[/]" : Markup.Escape(c.Command);
            calls.AddRow(command, Markup.Escape(c.Kind), N(c.Runs), N(c.Failed), Ms(c.MedianMs), Ms(c.P90Ms), Ms(c.MinMs), c.VsCurl is { } r ? Ratio(r) : "", c.VsVirsh is { } v ? Ratio(v) : "");
        }

        AnsiConsole.Write(calls);

        var boot = new Table().Title($"cli: the tiny guest ({report.GuestMemoryMiB} MiB) from nothing to its ready line, {report.Runs} runs per path, alternating{(report.LibvirtDomainType is { } t ? $" (libvirt domain type '{t}', the fabric's accelerator {report.Accelerator})" : "")}");
        foreach (var column in new[] { "path", "runs", "failed", "to ready p50", "p90", "min", "first command p50", "second command p50", "QEMU forked at p50" })
        {
            boot.AddColumn(column);
        }

        foreach (var b in report.Boot)
        {
            boot.AddRow(Markup.Escape(b.Path), N(b.Runs), N(b.Failed), $"[bold]{Ms(b.MedianMs)}[/]", Ms(b.P90Ms), Ms(b.MinMs), Ms(b.FirstCommandMedianMs), Ms(b.SecondCommandMedianMs), Ms(b.QemuForkedMedianMs));
        }

        AnsiConsole.Write(boot);
        if (report.BootRatio is { } ratio)
        {
            AnsiConsole.WriteLine($"fabricctl ÷ virsh, to ready p50: {Ratio(ratio)}");
        }

        AnsiConsole.WriteLine("targets:");
        foreach (var target in report.Targets)
        {
            AnsiConsole.WriteLine($"  - {target.Target}: {target.Measured}: {(target.Met is { } met ? Met(met) : "not measured")}");
        }

        AnsiConsole.WriteLine("where the time goes:");
        foreach (var line in report.WhereTheTimeGoes)
        {
            AnsiConsole.WriteLine($"  - {line}");
        }

        AnsiConsole.WriteLine($"fabricctl: {report.Ctl}");
        AnsiConsole.WriteLine($"accelerator: {report.Accelerator} ({report.AcceleratorReason}); libvirt: {report.Libvirt ?? "not available"}");
        AnsiConsole.WriteLine($"machine load (1-minute average): {report.LoadAverageAtStart.ToString("0.0", CultureInfo.InvariantCulture)} at the start, {report.LoadAverageAtEnd.ToString("0.0", CultureInfo.InvariantCulture)} at the end");
        AnsiConsole.WriteLine("what the figures mean:");
        foreach (var line in CliLegend)
        {
            AnsiConsole.WriteLine($"  - {line}");
        }

        foreach (var c in report.Calls.Where(c => c.Error is not null))
        {
            AnsiConsole.WriteLine($"  - {c.Command} failed ({c.Failed} of {c.Runs} timed runs): {c.Error}");
        }

        foreach (var b in report.Boot.Where(b => b.Error is not null))
        {
            AnsiConsole.WriteLine($"  - {b.Path} failed ({b.Failed} of {b.Runs} timed runs): {b.Error}");
        }

        foreach (var note in report.Notes)
        {
            AnsiConsole.WriteLine($"  - {note}");
        }
    }

    private static readonly string[] CliLegend =
    [
        "each command: from Process.Start to its exit (stdout and stderr read to the end), exit 0 with output required; a failed run is counted and left out of the figures",
        "fabricctl gets FABRIC_API (the silo's REST API) and FABRIC_TOKEN_FILE; curl reads the same token from a header file (-H @FILE); --version and curl --version start the program and end it without a request (the floor of each)",
        "in-process GET: one request from a warm HttpClient (connection kept) in the benchmark's own process: the silo's work plus loopback, what no process start or connection set-up adds to",
        "to ready: from starting the first command (fabricctl vm create, or virsh create) to the guest's 'fabric-guest ready boot=' line in its console log (the host's vms/NAME/console.log; libvirt's serial file), polled every 1 ms; first/second command: the create and start processes (virsh: the create process); QEMU forked at: when the guest's QEMU process began (/proc/PID/stat, 10 ms ticks) after the first command started (the fabric's QEMU: the process its launcher forks, which becomes QEMU)",
        "/bin/true: a process that does nothing, spawned and reaped the same way: the floor under every row of the first table on this machine at that moment",
    ];

    private static readonly string[] NetworkLegend =
    [
        "guests run under TCG (software emulation) on this machine: every guest figure is bound by the emulated CPU (each packet crosses the guest's kernel and virtio-net in emulation), not by the bridge or VXLAN; the underlay rows are host kernels only",
        "ping: busybox ping in the sender (the guest's own, and busybox's in host-a's namespace for the underlay); p50 from the per-packet time= lines, min/avg/max likewise",
        "throughput: dd if=/dev/zero bs=64k | nc IP 5001 in the sender, nc -l -p 5001 | wc -c in the receiver (bytes checked); seconds from the sender's /proc/uptime before dd to after nc ends (nc ends once the receiver has read everything and closed); each path's transfers sized to last about 4 s at the rate of an untimed 8 MiB transfer (which runs cold, so the timed ones are often shorter); busybox nc moves small buffers, so on the underlay the tool, not the link, is the limit: iperf3 shows what the underlay itself carries",
        "migration: ping -c N -i 0.1 -W 1 in the pinger (on host-a), started 1.5 s before MigrateVmAsync; lost = transmitted − received by the ping's own summary; longest run lost: the most consecutive sequence numbers without an answer; guest pause: MigrationInfo.GuestPauseMs (source STOP to target RESUME); a guest paused for P ms misses about P ÷ interval pings, so pause ÷ interval is the loss to expect if the network added none",
    ];

    private static string Rtt(double value) => $"{value.ToString("0.000", CultureInfo.InvariantCulture)} ms";

    private static string Count(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) : "n/a";

    private static string WholeMs(long? value) => value is { } v ? $"{v.ToString(CultureInfo.InvariantCulture)} ms" : "n/a";

    private static readonly string[] StorageLegend =
    [
        "provisioning, fabric: CreateVmAsync with DiskRequest { Pool, SizeBytes, Image, Full }, from the call to its answer (the VM created and placed, its volume made); the VM is not started, and is deleted with its volume after each run",
        "provisioning, raw: the one qemu-img command the host runs for that volume, run directly on the same image and file system; the host's steps: everything the host's volume store runs for it (info --backing-chain of the image, the command, info of the new file, fsync of the file and of its folder)",
        "volume on disk: what the new file occupies (stat's blocks × 512), i.e. the bytes provisioning wrote",
        "volumes: ops/s = volumes ÷ wall time of the whole batch; p50/p99 per call; in flight: calls outstanding at once",
        "migration total: MigrationInfo.TotalMs (request to end); sent: MigrationInfo.TransferredBytes; QEMU total: query-migrate's total-time on the source; guest pause: source STOP to target RESUME; client call: MigrateVmAsync to WaitForMigrationAsync returning",
        "guest's data afterwards: the guest's sha256 of the file it wrote, after the last migration, against the one taken after writing it; moves: successful migrations, the untimed warm-up's included",
    ];

    private static readonly string[] MigrateLegend =
    [
        "total (fabric): MigrationInfo.TotalMs, from the coordinator taking the request to the migration's end: target reserved and launched paused, stream sent, switch-over recorded, guest resumed on the target, source told to stop",
        "total (raw QMP): the same steps timed by the benchmark, from launching the target QEMU to the source's answer to quit",
        "QEMU total: query-migrate's total-time on the source, from migrate to its completion; total minus it is the time around the stream (target launch, bookkeeping, seeing the end, switch-over)",
        "QEMU downtime: query-migrate's downtime on the source (its stop to the end of the final copy)",
        "guest pause: the source's STOP event to the target's RESUME event, by QEMU's timestamps (the fabric records the switch-over before it resumes the guest)",
        "client call (fabric only): MigrateVmAsync to WaitForMigrationAsync returning, as a client sees it",
        "memwalk total: MigrationInfo.TotalMs to success or to the abort; passes: QEMU's dirty-sync count; throttle: auto-converge's last CPU throttle",
        "snapshot create: the host's time to a complete file (SnapshotInfo.TotalMs), and the guest pause in it; create call: the client's call; restore: RestoreSnapshotAsync until it returns with the guest running again",
    ];

    private static string Ms(double? value) => value is { } v ? Ms(v) : "n/a";

    private static string Rate(double value) => value.ToString("#,0.0", CultureInfo.InvariantCulture);

    private static string Ratio(double value) => $"{value.ToString("0.000", CultureInfo.InvariantCulture)}×";

    private static string Met(bool met) => met ? "met" : "NOT met";

    private static string N(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string Ms(double value) => $"{value.ToString("0.0", CultureInfo.InvariantCulture)} ms";

    private static string MiB(double value) => $"{value.ToString("0.0", CultureInfo.InvariantCulture)} MiB";

    private static string Bytes(double value) => $"{(value / 1024).ToString("0.00", CultureInfo.InvariantCulture)} KiB";
}
