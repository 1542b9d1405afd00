using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Volumes;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One way of provisioning a volume from the image, timed (milliseconds) with what its file occupies on disk.</summary>
internal sealed record ProvisionRow(
    string Provisioning,
    string Path,
    int Runs,
    double P50Ms,
    double MinMs,
    double MaxMs,
    double AllocatedMiB,
    double? VsRawP50);

/// <summary>The host's own qemu-img steps for one provisioning, run directly: medians in milliseconds.</summary>
internal sealed record HostSteps(string Provisioning, double ChainInfoP50Ms, double CommandP50Ms, double InfoP50Ms, double FsyncP50Ms);

/// <summary>Section 1: a VM created with a disk cloned from an image of a shared pool, linked and full.</summary>
internal sealed record ProvisionFigures(
    string ImageFormat,
    double ImageVirtualMiB,
    double ImageDataMiB,
    double ImageAllocatedMiB,
    double DiskMiB,
    int Runs,
    IReadOnlyList<ProvisionRow> Rows,
    IReadOnlyList<HostSteps> Steps,
    double FullOverLinkedFabric,
    double FullOverLinkedRaw);

/// <summary>One way of making (or deleting) many empty thin volumes, one after another or several at once.</summary>
internal sealed record VolumeRateRow(
    string Operation,
    string Path,
    int Volumes,
    int Concurrency,
    double OpsPerSecond,
    double P50Ms,
    double P99Ms,
    double? FabricOverRaw);

/// <summary>Section 2: 100 empty thin volumes.</summary>
internal sealed record VolumeRateFigures(int Volumes, double SizeMiB, IReadOnlyList<VolumeRateRow> Rows);

/// <summary>
/// One VM's live migrations through the fabric (milliseconds, MiB); <see cref="Refused"/>: the fabric would not
/// migrate it (the figures are then null).
/// </summary>
internal sealed record DiskMigrationRow(
    string Vm,
    string Disk,
    double? DiskAllocatedMiB,
    int Migrations,
    int Failed,
    string? Refused,
    double? TotalP50Ms,
    double? TotalMaxMs,
    double? VsNoDiskP50,
    double? TransferredP50MiB,
    double? QemuTotalP50Ms,
    double? PauseP50Ms,
    double? CallP50Ms,
    string? DataCheck,
    IReadOnlyList<string> Failures);

/// <summary>Section 3: the linux guest with and without a disk, migrated host-a ⇄ host-b.</summary>
internal sealed record DiskMigrationFigures(int Rounds, int MemoryMiB, double DiskMiB, double DataMiB, IReadOnlyList<DiskMigrationRow> Rows);

/// <summary>All of <c>./fabric bench storage</c>.</summary>
internal sealed record StorageReport(
    string Topology,
    string Accelerator,
    string PoolFilesystem,
    ProvisionFigures Provision,
    VolumeRateFigures Volumes,
    DiskMigrationFigures Migration,
    IReadOnlyList<string> Notes);

/// <summary>
/// Storage pools, measured side by side with a baseline in the same run, between two host silos (network peers in
/// namespaces as root), every pool in the environment's directory:
/// <list type="number">
/// <item>a VM created with a disk from an image (a 256 MiB qcow2 holding 96 MiB of random bytes) in a shared pool, as a
/// linked clone and as a full copy, against the <c>qemu-img create -b</c> and <c>qemu-img convert</c> commands the host
/// runs, run directly (and the host's whole sequence of qemu-img steps and fsyncs, to show where the time goes);</item>
/// <item>100 empty thin volumes made through the fabric, one at a time and 8 at once, against <c>qemu-img create</c> run
/// 100 times directly; then deleted;</item>
/// <item>the ticking linux guest live-migrated with no disk (the baseline), with a disk in a shared pool and with a disk
/// in a local pool, each disk holding a file system with 32 MiB of random data the guest wrote (the VM without a disk
/// holds the same in RAM).</item>
/// </list>
/// </summary>
internal static partial class StorageBenchmark
{
    private const long MiB = 1 << 20;
    private const string QemuImg = "qemu-img";

    private const long ImageBytes = 256 * MiB;

    /// <summary>The image's data: the same 32 MiB of random bytes at three offsets, holes between them.</summary>
    private const long ImageChunkBytes = 32 * MiB;

    private static readonly long[] ImageChunkOffsets = [0, 96 * MiB, 192 * MiB];

    private const int VolumeCount = 100;
    private const int VolumeConcurrency = 8;
    private const long ThinVolumeBytes = 1L << 30;

    private const int GuestMemoryMiB = 256;
    private const long GuestDiskBytes = 128 * MiB;
    private const long GuestDataBytes = 32 * MiB;

    private static readonly string[] Hosts = ["host-a", "host-b"];

    /// <summary>Between two migrations, outside the timed spans: the guest runs a little on its new host.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan GuestCommandTimeout = TimeSpan.FromSeconds(300);
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromSeconds(180);

    public static async Task<StorageReport> RunAsync(int runs, int rounds, NetworkTopology topology, TextWriter progress)
    {
        await using var environment = await FabricEnvironment.StartAsync(topology, FabricEnvironment.ProductionDefaults);
        await Task.WhenAll(Hosts.Select(host => environment.StartSiloAsync(host)));
        var client = await environment.ConnectAsync();
        foreach (var host in Hosts)
        {
            await FabricEnvironment.WaitForHostStateAsync(client, host, HostState.Ready, TimeSpan.FromSeconds(60));
        }

        var accelerator = (await client.GetHostAsync("host-a")).Accelerator;
        // A pool's root must have an existing parent, as an operator's mount point would.
        var pools = Directory.CreateDirectory(Path.Combine(environment.Directory, "pools")).FullName;
        var scratch = Directory.CreateDirectory(Path.Combine(environment.Directory, "raw")).FullName;
        var notes = new List<string>();

        var provision = await ProvisionAsync(client, pools, scratch, runs, progress, notes);
        var volumes = await VolumesAsync(client, pools, scratch, progress);
        var migration = await MigrationsAsync(client, pools, rounds, progress, notes);

        notes.Add(ConcurrencyNote(volumes));
        return new StorageReport(
            topology.ToString().ToLowerInvariant(),
            accelerator,
            await FilesystemOfAsync(pools),
            provision,
            volumes,
            migration,
            notes);
    }

    // ------------------------------------------------------------------ 1. provisioning from an image

    private static async Task<ProvisionFigures> ProvisionAsync(FabricClient client, string pools, string scratch, int runs, TextWriter progress, List<string> notes)
    {
        const string Pool = "images";
        const string Image = "base";
        var root = Path.Combine(pools, Pool);
        await client.CreatePoolAsync(new PoolSpec { Name = Pool, Type = PoolType.Shared, Path = root, CapacityBytes = 64L << 30 });

        var source = Path.Combine(scratch, "base-source.qcow2");
        var dataBytes = await MakeImageAsync(source, scratch);
        progress.WriteLine($"  provisioning: importing a {ImageBytes / MiB} MiB qcow2 image with {dataBytes / MiB} MiB of random data into shared pool '{Pool}'");
        var image = await client.ImportImageAsync(Pool, Image, source);
        var imageFile = PoolPaths.For(root).Image(Image, image.Format);
        var baseline = new RawProvisioning(imageFile, image.Format, ImageBytes);

        var fabric = new Dictionary<bool, List<(double Ms, long Allocated)>> { [false] = [], [true] = [] };
        var raw = new Dictionary<bool, List<RawSample>> { [false] = [], [true] = [] };
        var mismatches = new List<string>();

        progress.WriteLine("  provisioning: one untimed warm-up of each path");
        foreach (var full in new[] { false, true })
        {
            await ThroughFabricAsync(client, Pool, root, Image, $"prov-warm-{Kind(full)}", full, mismatches);
            await baseline.RunAsync(Path.Combine(scratch, "warm.qcow2"), full);
        }

        progress.WriteLine($"  provisioning: {runs} runs, each a VM created with a linked clone and with a full copy through the fabric, and the same qemu-img commands run directly, alternating which goes first");
        for (var run = 0; run < runs; run++)
        {
            foreach (var full in new[] { false, true })
            {
                async Task Fabric() => fabric[full].Add(await ThroughFabricAsync(client, Pool, root, Image, $"prov-{Kind(full)}-{run}", full, mismatches));
                async Task Raw() => raw[full].Add(await baseline.RunAsync(Path.Combine(scratch, $"prov-{Kind(full)}-{run}.qcow2"), full));
                if (run % 2 == 0)
                {
                    await Fabric();
                    await Raw();
                }
                else
                {
                    await Raw();
                    await Fabric();
                }
            }

            progress.WriteLine($"    run {run + 1}/{runs}: linked fabric {fabric[false][^1].Ms:0.0} ms, qemu-img {raw[false][^1].CommandMs:0.0} ms; full fabric {fabric[true][^1].Ms:0.0} ms, qemu-img {raw[true][^1].CommandMs:0.0} ms");
        }

        notes.AddRange(mismatches.Distinct());
        var rows = new List<ProvisionRow>();
        var steps = new List<HostSteps>();
        var p50 = new Dictionary<(bool Full, string Path), double>();
        foreach (var full in new[] { false, true })
        {
            var f = new Stats(fabric[full].Select(s => s.Ms));
            var command = new Stats(raw[full].Select(s => s.CommandMs));
            var host = new Stats(raw[full].Select(s => s.HostStepsMs));
            var kind = full ? "full copy" : "linked clone";
            var rawCommand = full ? $"qemu-img convert -O qcow2 -S 4k" : $"qemu-img create -f qcow2 -b IMAGE -F {image.Format}";
            rows.Add(new ProvisionRow(kind, $"fabric: vm create --disk {Pool}:{ImageBytes / MiB}Mi:{Image}{(full ? " (full)" : "")}", f.Count, f.Median, f.Min, f.Max, new Stats(fabric[full].Select(s => (double)s.Allocated)).Median / MiB, f.Median / command.Median));
            rows.Add(new ProvisionRow(kind, $"raw: {rawCommand}", command.Count, command.Median, command.Min, command.Max, new Stats(raw[full].Select(s => (double)s.Allocated)).Median / MiB, null));
            rows.Add(new ProvisionRow(kind, "raw: the host's steps (info --backing-chain, the command, info, fsync file and folder)", host.Count, host.Median, host.Min, host.Max, new Stats(raw[full].Select(s => (double)s.Allocated)).Median / MiB, host.Median / command.Median));
            steps.Add(new HostSteps(kind, new Stats(raw[full].Select(s => s.ChainMs)).Median, command.Median, new Stats(raw[full].Select(s => s.InfoMs)).Median, new Stats(raw[full].Select(s => s.FsyncMs)).Median));
            p50[(full, "fabric")] = f.Median;
            p50[(full, "raw")] = command.Median;
        }

        await client.DeleteImageAsync(Pool, Image);
        await client.DeletePoolAsync(Pool);
        return new ProvisionFigures(
            image.Format,
            image.VirtualBytes / (double)MiB,
            dataBytes / (double)MiB,
            image.PhysicalBytes / (double)MiB,
            ImageBytes / (double)MiB,
            runs,
            rows,
            steps,
            p50[(true, "fabric")] / p50[(false, "fabric")],
            p50[(true, "raw")] / p50[(false, "raw")]);
    }

    private static string Kind(bool full) => full ? "full" : "linked";

    /// <summary>
    /// A qcow2 image of <see cref="ImageBytes"/> with the same <see cref="ImageChunkBytes"/> of random bytes written by
    /// <c>qemu-io</c> at each of <see cref="ImageChunkOffsets"/>: a full copy has real bytes to write. Returns the data's size.
    /// </summary>
    private static async Task<long> MakeImageAsync(string image, string scratch)
    {
        var random = Path.Combine(scratch, "random.bin");
        var bytes = new byte[ImageChunkBytes];
        Random.Shared.NextBytes(bytes);
        await File.WriteAllBytesAsync(random, bytes);
        await RunAsync(QemuImg, "create", "-q", "-f", "qcow2", image, ImageBytes.ToString(CultureInfo.InvariantCulture));
        List<string> arguments = ["-f", "qcow2"];
        foreach (var offset in ImageChunkOffsets)
        {
            arguments.AddRange(["-c", $"write -q -s {random} {offset.ToString(CultureInfo.InvariantCulture)} {ImageChunkBytes.ToString(CultureInfo.InvariantCulture)}"]);
        }

        await RunAsync("qemu-io", [.. arguments, image]);
        File.Delete(random);
        return ImageChunkBytes * ImageChunkOffsets.Length;
    }

    /// <summary>
    /// <c>vm create --disk POOL:SIZE:IMAGE</c> (pinned to host-a, not started), timed from the call to its answer (the VM
    /// created, its volume made); then what the volume's file occupies, as the fabric reports it and as stat reads it,
    /// and the VM deleted (its volume with it).
    /// </summary>
    private static async Task<(double Ms, long Allocated)> ThroughFabricAsync(FabricClient client, string pool, string root, string image, string name, bool full, List<string> mismatches)
    {
        var spec = new VmSpec
        {
            Name = name,
            Image = "tiny",
            MemoryMiB = 16,
            Placement = new VmPlacement { Host = "host-a" },
            Disks = [new DiskRequest { Pool = pool, SizeBytes = ImageBytes, Image = image, Full = full }],
        };
        var clock = Stopwatch.StartNew();
        var created = await client.CreateVmAsync(spec);
        var ms = clock.Elapsed.TotalMilliseconds;

        var volume = created.Disks.Single().Volume;
        var info = await client.GetVolumeAsync(pool, volume);
        var allocated = await AllocatedBytesAsync(PoolPaths.For(root).Volume(volume));
        if (info.PhysicalBytes != allocated)
        {
            mismatches.Add($"a {Kind(full)} volume: the fabric reports {info.PhysicalBytes} physical bytes, stat {allocated} (the table uses stat)");
        }

        await client.DeleteVmAsync(name);
        return (ms, allocated);
    }

    /// <summary>One direct provisioning: each qemu-img step and the fsyncs timed on their own (milliseconds).</summary>
    private sealed record RawSample(double ChainMs, double CommandMs, double InfoMs, double FsyncMs, long Allocated)
    {
        public double HostStepsMs => ChainMs + CommandMs + InfoMs + FsyncMs;
    }

    /// <summary>
    /// The baseline: what the host's volume store runs for a volume from an image (VolumeStore.CreateVolumeAsync), as
    /// separate commands run directly: <c>qemu-img info --backing-chain</c> of the image, then <c>qemu-img create -f
    /// qcow2 -b IMAGE -F FORMAT</c> (linked) or <c>qemu-img convert -U -f FORMAT -O qcow2 -S 4k</c> (full), then
    /// <c>qemu-img info</c> of the new file, then fsync of the file and its folder. The table's raw figure is the command alone.
    /// </summary>
    private sealed class RawProvisioning(string image, string format, long sizeBytes)
    {
        public async Task<RawSample> RunAsync(string destination, bool full)
        {
            var chain = await TimedAsync(QemuImg, "info", "--output=json", "-f", format, "--backing-chain", "-U", image);
            var command = full
                ? await TimedAsync(QemuImg, "convert", "-q", "-U", "-f", format, "-O", "qcow2", "-S", "4k", image, destination)
                : await TimedAsync(QemuImg, "create", "-q", "-f", "qcow2", "-b", image, "-F", format, destination, sizeBytes.ToString(CultureInfo.InvariantCulture));
            var info = await TimedAsync(QemuImg, "info", "--output=json", "-f", "qcow2", "-U", destination);
            var clock = Stopwatch.StartNew();
            FileSync.Sync(destination);
            FileSync.Sync(Path.GetDirectoryName(destination)!, directory: true);
            var fsync = clock.Elapsed.TotalMilliseconds;
            var allocated = await AllocatedBytesAsync(destination);
            File.Delete(destination);
            return new RawSample(chain, command, info, fsync, allocated);
        }
    }

    // ------------------------------------------------------------------ 2. 100 empty volumes

    private static async Task<VolumeRateFigures> VolumesAsync(FabricClient client, string pools, string scratch, TextWriter progress)
    {
        const string Pool = "thin";
        await client.CreatePoolAsync(new PoolSpec { Name = Pool, Type = PoolType.Shared, Path = Path.Combine(pools, Pool), CapacityBytes = 1L << 40 });
        var folder = Directory.CreateDirectory(Path.Combine(scratch, "thin")).FullName;
        var size = ThinVolumeBytes.ToString(CultureInfo.InvariantCulture);

        progress.WriteLine($"  volumes: warm-up (5 through the fabric, 5 by qemu-img), untimed");
        var warm = VolumeNames("warm", 5);
        await RateAsync(warm, 1, name => client.CreateVolumeAsync(Pool, new VolumeSpec { Name = name, SizeBytes = ThinVolumeBytes }));
        await RateAsync(warm, 1, name => client.DeleteVolumeAsync(Pool, name));
        await RateAsync(warm, 1, name => RunAsync(QemuImg, "create", "-q", "-f", "qcow2", Path.Combine(folder, name + ".qcow2"), size));
        await RateAsync(warm, 1, name => DeleteFileAsync(Path.Combine(folder, name + ".qcow2")));

        progress.WriteLine($"  volumes: {VolumeCount} empty {ThinVolumeBytes / MiB} MiB qcow2 files by qemu-img directly, one after another");
        var rawNames = VolumeNames("raw", VolumeCount);
        var rawCreate = await RateAsync(rawNames, 1, name => RunAsync(QemuImg, "create", "-q", "-f", "qcow2", Path.Combine(folder, name + ".qcow2"), size));
        var rawDelete = await RateAsync(rawNames, 1, name => DeleteFileAsync(Path.Combine(folder, name + ".qcow2")));

        progress.WriteLine($"  volumes: {VolumeCount} through the fabric (CreateVolumeAsync), one after another");
        var sequentialNames = VolumeNames("seq", VolumeCount);
        var sequential = await RateAsync(sequentialNames, 1, name => client.CreateVolumeAsync(Pool, new VolumeSpec { Name = name, SizeBytes = ThinVolumeBytes }));
        var sequentialDelete = await RateAsync(sequentialNames, 1, name => client.DeleteVolumeAsync(Pool, name));

        progress.WriteLine($"  volumes: {VolumeCount} through the fabric, {VolumeConcurrency} at once");
        var concurrentNames = VolumeNames("par", VolumeCount);
        var concurrent = await RateAsync(concurrentNames, VolumeConcurrency, name => client.CreateVolumeAsync(Pool, new VolumeSpec { Name = name, SizeBytes = ThinVolumeBytes }));
        var concurrentDelete = await RateAsync(concurrentNames, VolumeConcurrency, name => client.DeleteVolumeAsync(Pool, name));

        progress.WriteLine($"  volumes: {VolumeCount} by the host's steps run directly (qemu-img create, qemu-img info, fsync file and folder), one after another");
        var hostNames = VolumeNames("host", VolumeCount);
        var hostSteps = await RateAsync(hostNames, 1, async name =>
        {
            var file = Path.Combine(folder, name + ".qcow2");
            await RunAsync(QemuImg, "create", "-q", "-f", "qcow2", file, size);
            await RunAsync(QemuImg, "info", "--output=json", "-f", "qcow2", "-U", file);
            FileSync.Sync(file);
            FileSync.Sync(folder, directory: true);
        });
        await RateAsync(hostNames, 1, name => DeleteFileAsync(Path.Combine(folder, name + ".qcow2")));
        await client.DeletePoolAsync(Pool);

        progress.WriteLine($"    create ops/s: raw qemu-img {rawCreate.OpsPerSecond:0.0}, fabric sequential {sequential.OpsPerSecond:0.0}, fabric ×{VolumeConcurrency} {concurrent.OpsPerSecond:0.0}, host steps {hostSteps.OpsPerSecond:0.0}");
        VolumeRateRow Row(string operation, string path, int concurrency, Rate rate, Rate? raw) =>
            new(operation, path, VolumeCount, concurrency, rate.OpsPerSecond, rate.P50Ms, rate.P99Ms, raw is null ? null : rate.OpsPerSecond / raw.OpsPerSecond);
        return new VolumeRateFigures(VolumeCount, ThinVolumeBytes / (double)MiB,
        [
            Row("create", "fabric: CreateVolumeAsync", 1, sequential, rawCreate),
            Row("create", "fabric: CreateVolumeAsync", VolumeConcurrency, concurrent, rawCreate),
            Row("create", "raw: qemu-img create -f qcow2", 1, rawCreate, null),
            Row("create", "raw: the host's steps (qemu-img create, qemu-img info, fsync file and folder)", 1, hostSteps, rawCreate),
            Row("delete", "fabric: DeleteVolumeAsync", 1, sequentialDelete, rawDelete),
            Row("delete", "fabric: DeleteVolumeAsync", VolumeConcurrency, concurrentDelete, rawDelete),
            Row("delete", "raw: unlink", 1, rawDelete, null),
        ]);
    }

    /// <summary>What several creates at once gain, said from the figures.</summary>
    private static string ConcurrencyNote(VolumeRateFigures volumes)
    {
        var creates = volumes.Rows.Where(r => r.Operation == "create" && r.Path.StartsWith("fabric", StringComparison.Ordinal)).ToList();
        var one = creates.Single(r => r.Concurrency == 1);
        var many = creates.Single(r => r.Concurrency > 1);
        return $"the pool grain serializes creates by design (one request at a time: each is counted against the pool's limit before its file is made, so concurrent creates can never overshoot it): "
            + $"{many.Concurrency} in flight make {many.OpsPerSecond:0.0} creates/s against {one.OpsPerSecond:0.0} one after another ({many.OpsPerSecond / one.OpsPerSecond:0.00}×), "
            + $"gaining only the time each call spends outside the pool's turn (client, gateway, messages), while a call's p50 grows from {one.P50Ms:0} ms to {many.P50Ms:0} ms queued at the pool";
    }

    private static List<string> VolumeNames(string prefix, int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"{prefix}-{i.ToString("000", CultureInfo.InvariantCulture)}")];

    private static Task DeleteFileAsync(string path)
    {
        File.Delete(path);
        return Task.CompletedTask;
    }

    private sealed record Rate(double OpsPerSecond, double P50Ms, double P99Ms);

    /// <summary>Runs <paramref name="operation"/> once per name, <paramref name="concurrency"/> at a time: throughput and per-call latency.</summary>
    private static async Task<Rate> RateAsync(List<string> names, int concurrency, Func<string, Task> operation)
    {
        var latencies = new double[names.Count];
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < names.Count)
            {
                var clock = Stopwatch.StartNew();
                await operation(names[index]);
                latencies[index] = clock.Elapsed.TotalMilliseconds;
            }
        }));
        var elapsed = wall.Elapsed.TotalSeconds;
        var stats = new Stats(latencies);
        return new Rate(names.Count / elapsed, stats.Median, stats.P99);
    }

    // ------------------------------------------------------------------ 3. live migration with a disk

    private sealed record Subject(string Vm, string? Pool, string Disk);

    private static string DataFile(Subject subject) => subject.Pool is null ? "/tmp/data" : "/mnt/data";

    private sealed class Outcome
    {
        public List<MigrationInfo> Succeeded { get; } = [];

        public List<double> Calls { get; } = [];

        public List<string> Failures { get; } = [];

        /// <summary>Successful migrations, the untimed warm-up's included.</summary>
        public int Moves { get; set; }

        public string? Refused { get; set; }

        public double? DiskAllocatedMiB { get; set; }

        public string? DataCheck { get; set; }
    }

    private static async Task<DiskMigrationFigures> MigrationsAsync(FabricClient client, string pools, int rounds, TextWriter progress, List<string> notes)
    {
        await client.CreatePoolAsync(new PoolSpec { Name = "shared", Type = PoolType.Shared, Path = Path.Combine(pools, "shared"), CapacityBytes = 16L << 30 });
        // A local pool's PATH must exist; each host keeps PATH/<host>.
        var local = Directory.CreateDirectory(Path.Combine(pools, "local")).FullName;
        await client.CreatePoolAsync(new PoolSpec { Name = "local", Type = PoolType.Local, Path = local, CapacityBytes = 16L << 30 });

        Subject[] subjects =
        [
            new("mig-nodisk", null, "none (baseline)"),
            new("mig-shared", "shared", $"shared pool, {GuestDiskBytes / MiB} MiB"),
            new("mig-local", "local", $"local pool, {GuestDiskBytes / MiB} MiB"),
        ];
        var outcomes = subjects.ToDictionary(s => s.Vm, _ => new Outcome());

        progress.WriteLine($"  migration: booting three linux guests ({GuestMemoryMiB} MiB) on host-a: no disk, a shared-pool disk, a local-pool disk");
        foreach (var subject in subjects)
        {
            await client.CreateVmAsync(new VmSpec
            {
                Name = subject.Vm,
                Image = "linux",
                MemoryMiB = GuestMemoryMiB,
                Placement = new VmPlacement { Host = "host-a" },
                Disks = subject.Pool is { } pool ? [new DiskRequest { Pool = pool, SizeBytes = GuestDiskBytes }] : [],
            });
            await client.StartVmAsync(subject.Vm);
        }

        // Every guest holds the same amount of random data in its memory: on its disk (and in its page cache, clean after
        // sync), or for the VM without a disk in /tmp (the initramfs, in RAM), so the rows differ by the disk alone.
        var sums = new Dictionary<string, string>(StringComparer.Ordinal);
        var data = GuestDataBytes.ToString(CultureInfo.InvariantCulture);
        foreach (var subject in subjects)
        {
            await GuestConsole.WaitForAsync(client, subject.Vm, GuestConsole.Ready(), BootTimeout);
            var shell = new GuestShell(client, subject.Vm, GuestCommandTimeout);
            if (subject.Pool is null)
            {
                progress.WriteLine($"    {subject.Vm}: {GuestDataBytes / MiB} MiB from /dev/urandom into /tmp/data (in RAM)");
                await shell.MustAsync($"head -c {data} /dev/urandom > /tmp/data");
                sums[subject.Vm] = await shell.ValueAsync($"$(sha256sum {DataFile(subject)} | cut -d' ' -f1)");
                continue;
            }

            progress.WriteLine($"    {subject.Vm}: mke2fs on /dev/vda, then {GuestDataBytes / MiB} MiB from /dev/urandom into /mnt/data");
            await shell.MustAsync($"mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt && head -c {data} /dev/urandom > /mnt/data && sync");
            sums[subject.Vm] = await shell.ValueAsync($"$(sha256sum {DataFile(subject)} | cut -d' ' -f1)");
            var volume = (await client.GetVmAsync(subject.Vm)).Disks.Single().Volume;
            outcomes[subject.Vm].DiskAllocatedMiB = (await client.GetVolumeAsync(subject.Pool, volume)).PhysicalBytes / (double)MiB;
        }

        progress.WriteLine("  migration: one untimed round trip of each VM first");
        foreach (var subject in subjects)
        {
            for (var leg = 0; leg < 2 && outcomes[subject.Vm].Refused is null; leg++)
            {
                await MigrateAsync(client, subject.Vm, outcomes[subject.Vm], record: false, progress);
            }
        }

        progress.WriteLine($"  migration: {rounds} rounds, each VM host-a → host-b → host-a, the VMs in turn (the first one changes each round)");
        for (var round = 0; round < rounds; round++)
        {
            var line = new List<string>();
            for (var i = 0; i < subjects.Length; i++)
            {
                var subject = subjects[(round + i) % subjects.Length];
                var outcome = outcomes[subject.Vm];
                if (outcome.Refused is not null)
                {
                    continue;
                }

                for (var leg = 0; leg < 2 && outcome.Refused is null; leg++)
                {
                    await MigrateAsync(client, subject.Vm, outcome, record: true, progress);
                }

                line.Add(outcome.Refused is null && outcome.Succeeded.Count > 0 ? $"{subject.Vm} {outcome.Succeeded[^1].TotalMs} ms" : $"{subject.Vm} -");
            }

            progress.WriteLine($"    round {round + 1}/{rounds}: {string.Join(", ", line)}");
        }

        foreach (var subject in subjects)
        {
            var outcome = outcomes[subject.Vm];
            var now = await new GuestShell(client, subject.Vm, GuestCommandTimeout).ValueAsync($"$(sha256sum {DataFile(subject)} | cut -d' ' -f1)");
            outcome.DataCheck = $"{DataFile(subject)} {(now == sums[subject.Vm] ? "intact" : "CHANGED")} after {outcome.Moves} moves";
        }

        foreach (var subject in subjects)
        {
            await client.StopVmAsync(subject.Vm, new StopOptions { Force = true });
            await client.DeleteVmAsync(subject.Vm);
        }

        await client.DeletePoolAsync("shared");
        await client.DeletePoolAsync("local");

        var baseline = new Stats(outcomes[subjects[0].Vm].Succeeded.Select(m => (double)m.TotalMs));
        var rows = subjects.Select(subject =>
        {
            var outcome = outcomes[subject.Vm];
            var done = outcome.Succeeded;
            var total = new Stats(done.Select(m => (double)m.TotalMs));
            var measured = done.Count > 0;
            double? Median(IEnumerable<double> values)
            {
                var stats = new Stats(values);
                return stats.Count == 0 ? null : stats.Median;
            }

            return new DiskMigrationRow(
                subject.Vm,
                subject.Disk,
                outcome.DiskAllocatedMiB,
                done.Count,
                outcome.Failures.Count,
                outcome.Refused,
                measured ? total.Median : null,
                measured ? total.Max : null,
                measured && baseline.Count > 0 ? total.Median / baseline.Median : null,
                Median(done.Select(m => m.TransferredBytes / (double)MiB)),
                Median(done.Where(m => m.QemuTotalMs is not null).Select(m => (double)m.QemuTotalMs!.Value)),
                Median(done.Where(m => m.GuestPauseMs is not null).Select(m => (double)m.GuestPauseMs!.Value)),
                Median(outcome.Calls),
                outcome.DataCheck,
                outcome.Failures);
        }).ToList();
        foreach (var row in rows)
        {
            notes.AddRange(row.Failures.Select(f => $"{row.Vm}: a migration FAILED (left out of the figures): {f}"));
        }

        return new DiskMigrationFigures(rounds, GuestMemoryMiB, GuestDiskBytes / (double)MiB, GuestDataBytes / (double)MiB, rows);
    }

    /// <summary>
    /// One live migration of <paramref name="vm"/> to the host it is not on, recorded in <paramref name="outcome"/>: its
    /// MigrationInfo and the client's wall time, a failure (the VM must still run), or the fabric's refusal to start it.
    /// </summary>
    private static async Task MigrateAsync(FabricClient client, string vm, Outcome outcome, bool record, TextWriter progress)
    {
        var from = (await client.GetVmAsync(vm)).Host;
        var to = Hosts.First(h => h != from);
        var clock = Stopwatch.StartNew();
        try
        {
            await client.MigrateVmAsync(vm, new MigrationRequest { TargetHost = to });
        }
        catch (FabricException ex)
        {
            outcome.Refused = $"{ex.Code}: {ex.Message}";
            progress.WriteLine($"    {vm}: the fabric refused to migrate it: {outcome.Refused}");
            return;
        }

        using var timeout = new CancellationTokenSource(MigrationTimeout);
        var end = await client.WaitForMigrationAsync(vm, cancellationToken: timeout.Token);
        var call = clock.Elapsed.TotalMilliseconds;
        if (end.Phase == MigrationPhase.Succeeded)
        {
            outcome.Moves++;
            if (record)
            {
                outcome.Succeeded.Add(end);
                outcome.Calls.Add(call);
            }

            await Task.Delay(Settle);
            return;
        }

        var state = await client.GetVmAsync(vm);
        if (state.State != VmState.Running)
        {
            throw new InvalidOperationException($"the fabric's migration of {vm} {from} → {to} ended {end.Phase} ({end.Reason}), and the VM is {state.State} on {state.Host}");
        }

        var failure = $"{from} → {to} {end.Phase} after {end.TotalMs} ms: {end.Reason}";
        progress.WriteLine($"    {vm}: migration FAILED: {failure}");
        if (record)
        {
            outcome.Failures.Add(failure);
        }

        await Task.Delay(Settle);
    }

    // ------------------------------------------------------------------ processes and files

    /// <summary>Runs a program to its end (no shell); throws with what it said unless it exits 0.</summary>
    private static async Task RunAsync(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await output;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {(await error).Trim()}");
        }
    }

    private static async Task<double> TimedAsync(string program, params string[] arguments)
    {
        var clock = Stopwatch.StartNew();
        await RunAsync(program, arguments);
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>What a file occupies on disk: stat's block count × 512.</summary>
    private static async Task<long> AllocatedBytesAsync(string path) =>
        long.Parse(await OutputAsync("stat", "-c", "%b", path), CultureInfo.InvariantCulture) * 512;

    /// <summary>The file system type and device holding <paramref name="path"/>, for the report.</summary>
    private static async Task<string> FilesystemOfAsync(string path)
    {
        var lines = (await OutputAsync("df", "--output=source,fstype", path)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length > 1 ? string.Join(' ', lines[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries)) : "unknown";
    }

    private static async Task<string> OutputAsync(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output.Trim() : throw new InvalidOperationException($"{program} exited {process.ExitCode}");
    }

    /// <summary>fsync(2) of a file or folder, as the host's volume store does before and after it renames a new file into place.</summary>
    private static partial class FileSync
    {
        private const int ReadOnly = 0;
        private const int OpenDirectory = 0x10000;
        private const int CloseOnExec = 0x80000;

        public static void Sync(string path, bool directory = false)
        {
            var fd = Open(path, ReadOnly | CloseOnExec | (directory ? OpenDirectory : 0));
            if (fd < 0)
            {
                throw new IOException($"open {path}: errno {Marshal.GetLastPInvokeError()}");
            }

            try
            {
                if (Fsync(fd) != 0)
                {
                    throw new IOException($"fsync {path}: errno {Marshal.GetLastPInvokeError()}");
                }
            }
            finally
            {
                _ = Close(fd);
            }
        }

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        private static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close")]
        private static partial int Close(int fd);
    }
}
