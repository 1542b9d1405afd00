using System.Diagnostics;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Disks through the driver (<see cref="IVmDisks"/>, and <see cref="ISnapshots"/> with disks), with real QEMU: the
/// linux guest formats, writes and reads its virtio disks (busybox mke2fs; the kernel's ext4 driver mounts ext2), sees
/// hot-plugged ones come and go, and gets disk and memory back from one moment when a snapshot is restored. The tiny
/// guest (a boot sector, no ACPI) covers what needs no guest, and a guest that never lets a disk go.
/// </summary>
public sealed class DiskDriverTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "disk-1";
    private const long MiB = 1024 * 1024;

    /// <summary>How long the linux guest may take to notice a hot-plugged disk, or let one go (ACPI hot-plug under TCG).</summary>
    private static readonly TimeSpan GuestNotices = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Volume_KeepsItsFileSystemAcrossARelaunch()
    {
        var host = await StartDriverAsync();
        var disk = new DiskSpec(0, await CreateVolumeAsync("root", 64 * MiB), "qcow2", "root-vol");
        var spec = QemuSandbox.Linux(Vm) with { Disks = [disk] };
        await host.LaunchAsync(spec);
        var shell = await ShellAsync(host);
        Assert.Equal("root-vol", await shell.ValueAsync("$(cat /sys/block/vda/serial)"));

        await shell.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt");
        await shell.MustAsync("head -c 1048576 /dev/urandom > /mnt/data && sync");
        var written = await shell.Sha256Async("/mnt/data");
        await shell.MustAsync("umount /mnt");
        Assert.Equal([disk], host.Driver.Disks(Vm));

        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        Assert.Empty(host.Driver.Disks(Vm));

        await host.LaunchAsync(spec with { InstanceId = Guid.NewGuid() });
        shell = await ShellAsync(host);
        await shell.MustAsync("mkdir -p /mnt && mount /dev/vda /mnt");
        Assert.Equal(written, await shell.Sha256Async("/mnt/data"));
    }

    [Fact]
    public async Task HotPlug_TheGuestSeesTheDiskUsesItWatchesItGrowAndLetsItGo()
    {
        var host = await StartDriverAsync();
        var disks = DisksOf(host.Driver);
        var root = new DiskSpec(0, await CreateVolumeAsync("root", 16 * MiB), "qcow2", "root-vol");
        await host.LaunchAsync(QemuSandbox.Linux(Vm) with { Disks = [root] });
        var shell = await ShellAsync(host);
        Assert.Equal(1, await shell.RunAsync("[ -e /sys/block/vdb ]"));

        var disk = new DiskSpec(1, await CreateVolumeAsync("data", 32 * MiB), "qcow2", "data-vol");
        var plugging = Stopwatch.StartNew();
        await disks.AttachDiskAsync(Vm, disk, CancellationToken.None);
        Output.WriteLine($"attach: {plugging.ElapsedMilliseconds} ms");
        Assert.Equal([root, disk], disks.Disks(Vm));

        await shell.MustAsync(WaitFor("[ -e /sys/block/vdb ]"), GuestNotices);
        Output.WriteLine($"the guest saw it after {plugging.ElapsedMilliseconds} ms");
        Assert.Equal("data-vol", await shell.ValueAsync("$(cat /sys/block/vdb/serial)"));
        Assert.Equal($"{32 * MiB / 512}", await shell.ValueAsync("$(cat /sys/block/vdb/size)"));

        // Written through, read back from the disk (not the page cache).
        await shell.MustAsync("head -c 262144 /dev/urandom > /tmp/block && dd if=/tmp/block of=/dev/vdb bs=65536 conv=fsync 2>/dev/null");
        var written = await shell.Sha256Async("/tmp/block");
        await shell.MustAsync("echo 3 > /proc/sys/vm/drop_caches");
        Assert.Equal(written, await shell.ValueAsync("$(head -c 262144 /dev/vdb | sha256sum | cut -d' ' -f1)"));

        // Attaching it again changes nothing; another disk in its slot is refused.
        await disks.AttachDiskAsync(Vm, disk, CancellationToken.None);
        var other = new DiskSpec(1, await CreateVolumeAsync("other", 16 * MiB), "qcow2", "other-vol");
        Assert.Equal(HypervisorErrorKind.Conflict, (await Assert.ThrowsAsync<HypervisorException>(() => disks.AttachDiskAsync(Vm, other, CancellationToken.None))).Kind);

        // Online growth: the guest sees the new size; a disk never shrinks.
        await disks.ResizeDiskAsync(Vm, 1, 64 * MiB, CancellationToken.None);
        await shell.MustAsync(WaitFor($"[ $(cat /sys/block/vdb/size) = {64 * MiB / 512} ]"), GuestNotices);
        Assert.Equal(HypervisorErrorKind.InvalidRequest, (await Assert.ThrowsAsync<HypervisorException>(() => disks.ResizeDiskAsync(Vm, 1, 32 * MiB, CancellationToken.None))).Kind);

        // Unplugged once the guest lets it go (DEVICE_DELETED), and gone from the guest; a second unplug is harmless.
        var unplugging = Stopwatch.StartNew();
        await disks.DetachDiskAsync(Vm, 1, GuestNotices, CancellationToken.None);
        Output.WriteLine($"detach (the guest released it): {unplugging.ElapsedMilliseconds} ms");
        Assert.Equal([root], disks.Disks(Vm));
        await shell.MustAsync(WaitFor("[ ! -e /sys/block/vdb ]"), GuestNotices);
        await disks.DetachDiskAsync(Vm, 1, GuestNotices, CancellationToken.None);

        // The file is closed: another process may open it for writing (qemu-img without -U takes QEMU's locks).
        Assert.Equal(0, await RunAsync("qemu-img", "snapshot", "--image-opts", "-c", "after", QemuImgSnapshots.ImageOptions(disk.Path)));

        // The slot is free for another disk.
        await disks.AttachDiskAsync(Vm, other, CancellationToken.None);
        await shell.MustAsync(WaitFor("[ -e /sys/block/vdb ]"), GuestNotices);
        Assert.Equal("other-vol", await shell.ValueAsync("$(cat /sys/block/vdb/serial)"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Snapshot_RestoresDiskAndMemoryToTheSameMoment(bool background)
    {
        var host = await StartDriverAsync();
        host.Driver.PreferBackgroundSnapshot = background;
        var snapshots = SnapshotsOf(host.Driver);
        var disk = new DiskSpec(0, await CreateVolumeAsync("root", 64 * MiB), "qcow2", "root-vol");
        var spec = QemuSandbox.Linux(Vm) with { Disks = [disk] };
        await host.LaunchAsync(spec);
        var shell = await ShellAsync(host);
        var boot = shell.Boot;
        await shell.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt");
        await shell.MustAsync("head -c 1048576 /dev/urandom > /mnt/a && sync");
        var a = await shell.Sha256Async("/mnt/a");

        var before = (await shell.Console.WaitForAsync(GuestConsole.Tick(), NextTick)).Count();
        var taken = await snapshots.CreateSnapshotAsync(Vm, "s1", CancellationToken.None);
        var after = (await shell.Console.WaitForAsync(GuestConsole.Tick(), NextTick)).Count();

        // A pre-copy's moment is its end, which under load comes seconds after it began: the guest ticks every 0.5 s
        // meanwhile, so the restored count may be up to that many ticks past "before" (the next line read here).
        var latest = Math.Max(after, before + (int)Math.Ceiling(taken.Total.TotalSeconds * 2));
        Output.WriteLine($"{taken.Method}: {taken.File.SizeBytes} bytes, guest pause {taken.GuestPause?.TotalMilliseconds:0.0} ms, {taken.Total.TotalMilliseconds:0} ms in all (ticks {before} → {after})");
        Assert.Equal(background && QemuSandbox.UnprivilegedUserfaultfd ? SnapshotMethods.Background : SnapshotMethods.Precopy, taken.Method);
        Assert.NotNull(taken.GuestPause);
        Assert.InRange(taken.GuestPause!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Equal(ProcessPower.Running, host.Driver.GetStatus(Vm).Power);
        Assert.Contains("s1", await DiskSnapshotsAsync(disk.Path));

        // The guest moves on: B written, A overwritten, both on the disk; and its ticks run on.
        await shell.MustAsync("head -c 1048576 /dev/urandom > /mnt/b && head -c 1048576 /dev/urandom > /mnt/a && sync");
        Assert.NotEqual(a, await shell.Sha256Async("/mnt/a"));
        var last = after;
        while (last < after + 4)
        {
            last = (await shell.Console.WaitForAsync(GuestConsole.Tick(), NextTick)).Count();
        }

        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);

        var restoring = Stopwatch.StartNew();
        var restored = await snapshots.RestoreSnapshotAsync(spec with { InstanceId = Guid.NewGuid() }, "s1", resume: true, CancellationToken.None);
        Output.WriteLine($"restored in {restoring.ElapsedMilliseconds} ms");
        Assert.Equal(ProcessPower.Running, restored.Power);
        Assert.Equal([disk], host.Driver.Disks(Vm));

        // Memory from the snapshot: the same boot, the count carries on from where it was taken.
        shell = new GuestShell(host.Driver, Vm, host.Console(Vm));
        var tick = await shell.Console.WaitForAsync(GuestConsole.Tick(), NextTick);
        Assert.Equal(boot, tick.Boot());
        // (The tick read as "after" may have been printed a moment before the snapshot's moment.)
        Assert.InRange(tick.Count(), before + 1, latest + 2);

        // Disk from the same moment: what the file system reads back from it after a remount is A as it was, no B.
        await shell.MustAsync("umount /mnt && mount /dev/vda /mnt");
        Assert.Equal(a, await shell.Sha256Async("/mnt/a"));
        Assert.Equal(1, await shell.RunAsync("[ -e /mnt/b ]"));
    }

    [Fact]
    public async Task HotPluggedDisk_ItsSnapshotLoadsIntoAProcessLaunchedWithIt()
    {
        var host = await StartDriverAsync();
        var snapshots = SnapshotsOf(host.Driver);
        var spec = QemuSandbox.Linux(Vm);
        await host.LaunchAsync(spec);
        var shell = await ShellAsync(host);
        var disk = new DiskSpec(3, await CreateVolumeAsync("late", 32 * MiB), "qcow2", "late-vol");
        await DisksOf(host.Driver).AttachDiskAsync(Vm, disk, CancellationToken.None);
        await shell.MustAsync(WaitFor("[ -e /sys/block/vda ]"), GuestNotices);
        await shell.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt && echo kept > /mnt/note && sync");

        await snapshots.CreateSnapshotAsync(Vm, "plugged", CancellationToken.None);
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);

        // The caller launches the restore with the disks the process had, hot-plugged or not: at the same slot, the
        // command line gives the device the address it was hot-plugged at, so the snapshot's device state fits.
        await snapshots.RestoreSnapshotAsync(spec with { InstanceId = Guid.NewGuid(), Disks = [disk] }, "plugged", resume: true, CancellationToken.None);
        shell = new GuestShell(host.Driver, Vm, host.Console(Vm));
        Assert.Equal("kept", await shell.ValueAsync("$(cat /mnt/note)"));
        Assert.Equal("late-vol", await shell.ValueAsync("$(cat /sys/block/vda/serial)"));
        await shell.MustAsync("echo more > /mnt/more && sync && umount /mnt && mount /dev/vda /mnt && [ -e /mnt/more ]");
    }

    [Fact]
    public async Task DeleteSnapshot_RemovesTheDisksInternalSnapshots_LiveAndStopped()
    {
        var host = await StartDriverAsync();
        var snapshots = SnapshotsOf(host.Driver);
        var disk = new DiskSpec(0, await CreateVolumeAsync("root", 16 * MiB), "qcow2", "root-vol");
        await host.LaunchAsync(QemuSandbox.Tiny(Vm) with { Disks = [disk] });
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);
        await snapshots.CreateSnapshotAsync(Vm, "one", CancellationToken.None);

        // A paused guest's disks are snapshotted before its memory; replacing a snapshot replaces its disk snapshot
        // (a disk has one snapshot of a name).
        await host.Driver.PauseAsync(Vm, CancellationToken.None);
        await snapshots.CreateSnapshotAsync(Vm, "two", CancellationToken.None);
        var replaced = await snapshots.CreateSnapshotAsync(Vm, "two", CancellationToken.None);
        Assert.False(replaced.WasRunning);
        Assert.Equal(ProcessPower.Paused, host.Driver.GetStatus(Vm).Power);
        Assert.Equal(["one", "two"], await DiskSnapshotsAsync(disk.Path));
        await host.Driver.ResumeAsync(Vm, CancellationToken.None);

        // With the process running, through it (it holds the file); the disks it has need not be given.
        await snapshots.DeleteSnapshotAsync(Vm, "one", [], CancellationToken.None);
        Assert.Equal(["two"], await DiskSnapshotsAsync(disk.Path));
        Assert.Null(snapshots.FindSnapshot(Vm, "one"));

        // With no process, through qemu-img, on the disks given.
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        await snapshots.DeleteSnapshotAsync(Vm, "two", [disk], CancellationToken.None);
        Assert.Empty(await DiskSnapshotsAsync(disk.Path));
        Assert.Null(snapshots.FindSnapshot(Vm, "two"));
        await snapshots.DeleteSnapshotAsync(Vm, "two", [disk], CancellationToken.None);
    }

    [Fact]
    public async Task Snapshot_OfAVmWithARawDisk_IsRefused_AndARestoreNeedsEveryDisksSnapshot()
    {
        var host = await StartDriverAsync();
        var snapshots = SnapshotsOf(host.Driver);
        var raw = new DiskSpec(1, await CreateVolumeAsync("scratch", 16 * MiB, "raw"), "raw", "scratch");
        var spec = QemuSandbox.Tiny(Vm) with { Disks = [raw] };
        await host.LaunchAsync(spec);
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);

        var refused = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.CreateSnapshotAsync(Vm, "s1", CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.InvalidRequest, refused.Kind);
        Assert.Contains("raw", refused.Message, StringComparison.Ordinal);
        Assert.Null(snapshots.FindSnapshot(Vm, "s1"));
        Assert.Equal(ProcessPower.Running, host.Driver.GetStatus(Vm).Power);

        // Without the raw disk, a snapshot is taken; a restore with a disk that has none of it is refused, untouched.
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        await snapshots.CreateSnapshotAsync(Vm, "bare", CancellationToken.None);
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        var other = new DiskSpec(0, await CreateVolumeAsync("other", 16 * MiB), "qcow2", "other");
        var missing = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.RestoreSnapshotAsync(QemuSandbox.Tiny(Vm) with { Disks = [other] }, "bare", resume: true, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.NotFound, missing.Kind);
        Assert.False(host.Driver.GetStatus(Vm).IsAlive);
    }

    [Fact]
    public async Task Detach_FromAGuestThatNeverLetsGo_FailsAndLeavesTheDiskAttached()
    {
        var host = await StartDriverAsync();
        var disks = DisksOf(host.Driver);
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);
        var disk = new DiskSpec(2, await CreateVolumeAsync("stuck", 16 * MiB), "qcow2", "stuck");
        await disks.AttachDiskAsync(Vm, disk, CancellationToken.None);

        // A boot sector has no ACPI: the eject request is never answered.
        var timeout = TimeSpan.FromSeconds(1);
        var failed = await Assert.ThrowsAsync<HypervisorException>(() => disks.DetachDiskAsync(Vm, 2, timeout, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Failed, failed.Kind);
        Assert.Contains("the guest did not release disk 2", failed.Message, StringComparison.Ordinal);
        Assert.Equal([disk], disks.Disks(Vm));

        // Asking again waits again (QEMU 7.2 takes the repeated request), with the same outcome.
        Assert.Equal(HypervisorErrorKind.Failed, (await Assert.ThrowsAsync<HypervisorException>(() => disks.DetachDiskAsync(Vm, 2, timeout, CancellationToken.None))).Kind);
        Assert.Equal([disk], disks.Disks(Vm));
    }

    [Fact]
    public async Task Disks_AreKnownAgainAfterTheDriverRestarts()
    {
        var first = await StartDriverAsync();
        var launched = new DiskSpec(0, await CreateVolumeAsync("root", 16 * MiB), "qcow2", "root");
        await first.LaunchAsync(QemuSandbox.Tiny(Vm) with { Disks = [launched] });
        await first.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);
        var plugged = new DiskSpec(5, await CreateVolumeAsync("data", 16 * MiB), "qcow2", "data");
        await DisksOf(first.Driver).AttachDiskAsync(Vm, plugged, CancellationToken.None);
        Assert.Equal([launched, plugged], first.Driver.Disks(Vm));
        var disksFile = Path.Combine(Sandbox.DataDirectory, "vms", Vm, "disks.json");
        Assert.True(File.Exists(disksFile));
        var instance = first.Driver.GetStatus(Vm).InstanceId;
        await first.Driver.DisposeAsync();

        // As if the first driver had died half-way through a hot-plug: listed, but QEMU never got the device.
        var unfinished = new DiskSpec(7, await CreateVolumeAsync("half", 16 * MiB), "qcow2", "half");
        new DiskRecord(instance, [launched, plugged, unfinished]).Write(disksFile);

        var second = await StartDriverAsync();
        await second.Driver.AttachAllAsync(CancellationToken.None);
        Assert.Equal([launched, plugged], second.Driver.Disks(Vm));

        // And the re-attached driver changes them: a growth and a hot-plug into a taken slot.
        await DisksOf(second.Driver).ResizeDiskAsync(Vm, 5, 32 * MiB, CancellationToken.None);
        var taken = await Assert.ThrowsAsync<HypervisorException>(() => DisksOf(second.Driver).AttachDiskAsync(Vm, plugged with { Slot = 0 }, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, taken.Kind);
    }

    [Fact]
    public async Task Launch_RefusesTwoDisksInOneSlot_AndHotPlugNeedsALiveProcess()
    {
        var host = await StartDriverAsync();
        var a = new DiskSpec(0, await CreateVolumeAsync("a", 16 * MiB), "qcow2", "a");
        var b = new DiskSpec(0, await CreateVolumeAsync("b", 16 * MiB), "qcow2", "b");
        var twice = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.LaunchAsync(QemuSandbox.Tiny(Vm) with { Disks = [a, b] }, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.InvalidRequest, twice.Kind);

        var absent = await Assert.ThrowsAsync<HypervisorException>(() => DisksOf(host.Driver).AttachDiskAsync(Vm, a, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, absent.Kind);
        Assert.Empty(host.Driver.Disks(Vm));
    }

    /// <summary>A shell loop that waits (up to 15 s) for <paramref name="condition"/>, then runs it once more for its status.</summary>
    private static string WaitFor(string condition) => $"for i in $(seq 150); do {condition} && break; sleep 0.1; done; {condition}";

    /// <summary>Waits for the linux guest's ready line and returns its shell.</summary>
    private static async Task<GuestShell> ShellAsync(Harness host)
    {
        var console = host.Console(Vm);
        var ready = await console.WaitForAsync(GuestConsole.Ready(), LinuxBoot);
        return new GuestShell(host.Driver, Vm, console) { Boot = ready.Boot() };
    }

    private async Task<string> CreateVolumeAsync(string name, long sizeBytes, string format = "qcow2")
    {
        var path = Path.Combine(Sandbox.DisksDirectory, $"{name}.{format}");
        Assert.Equal(0, await RunAsync("qemu-img", "create", "-q", "-f", format, path, sizeBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return path;
    }

    /// <summary>The names of a qcow2 file's internal snapshots, as <c>qemu-img snapshot -l</c> lists them (sharing the file with a running QEMU).</summary>
    private async Task<IReadOnlyList<string>> DiskSnapshotsAsync(string path)
    {
        var (status, listing) = await RunWithOutputAsync("qemu-img", "snapshot", "-U", "--image-opts", "-l", QemuImgSnapshots.ImageOptions(path));
        Assert.Equal(0, status);

        // "ID TAG VM-SIZE DATE VM-CLOCK ICOUNT" rows after a header; the tag is the second column.
        return [.. listing.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(columns => columns.Length > 1 && int.TryParse(columns[0], out _)).Select(columns => columns[1]).Order(StringComparer.Ordinal)];
    }

    private async Task<int> RunAsync(string program, params string[] arguments) => (await RunWithOutputAsync(program, arguments)).Status;

    private async Task<(int Status, string Output)> RunWithOutputAsync(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var errors = await stderr;
        if (errors.Length > 0)
        {
            Output.WriteLine($"{program}: {errors.Trim()}");
        }

        return (process.ExitCode, await stdout);
    }

    private static IVmDisks DisksOf(IHypervisorDriver driver) =>
        driver.Capability<IVmDisks>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no disks");

    private static ISnapshots SnapshotsOf(IHypervisorDriver driver) =>
        driver.Capability<ISnapshots>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no snapshots");
}
