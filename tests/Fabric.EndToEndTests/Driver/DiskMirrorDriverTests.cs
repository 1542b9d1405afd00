using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Fabric.EndToEndTests.Storage;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Block migration of a local disk between two drivers (two data directories, as two hosts have), through
/// <see cref="IDiskMirror"/> and <see cref="ILiveMigration"/>: the linux guest keeps an ext2 file system on its
/// virtio disk busy while the disk is mirrored into the target's NBD export and its memory follows. What the guest
/// wrote is checked three ways on the target: its page cache against the disk (after dropping the cache), the disk's
/// image on the host against both (debugfs), and the file system with <c>e2fsck</c>.
/// </summary>
public sealed class DiskMirrorDriverTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "mirror-1";
    private const string Loopback = "127.0.0.1";
    private const string DiskSize = "64M";

    /// <summary>
    /// Rewrites one of /mnt/live's 64 KiB blocks with random data every 0.2 s and syncs, so the disk takes writes
    /// during the whole mirror and migration; /mnt/count (replaced by a rename, so never read half written) says how
    /// many rounds it made. It is told to stop through /tmp (guest RAM, which migrates with the guest), and stops
    /// between two rounds, so that no file is left half written.
    /// </summary>
    private const string StartWriter =
        "rm -f /tmp/stop; echo 0 >/mnt/count; (n=0; while [ ! -e /tmp/stop ]; do n=$((n+1)); dd if=/dev/urandom of=/mnt/live bs=64k count=1 seek=$((n%64)) conv=notrunc 2>/dev/null; "
        + "echo $n >/mnt/count.new; mv /mnt/count.new /mnt/count; sync; sleep 0.2; done; rm /tmp/writer) </dev/null >/dev/null 2>&1 & echo $! >/tmp/writer";

    private const string StopWriter = "touch /tmp/stop; while [ -e /tmp/writer ]; do sleep 0.1; done; sync";

    private static readonly TimeSpan MirrorReady = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MigrationEnd = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Migration_WithItsDiskMirrored_KeepsEveryWrite_AndACleanFileSystem()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync();
        var target = new Harness(await targetSandbox.CreateDriverAsync());
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await StorageTools.CreateQcow2Async(Sandbox.DisksDirectory, "source", DiskSize))] };
        var targetDisk = await StorageTools.CreateQcow2Async(targetSandbox.DisksDirectory, "target", DiskSize);
        await source.LaunchAsync(spec);
        var guest = await ReadyShellAsync(source);
        var dataSum = await PrepareFileSystemAsync(guest, dataMiB: 4);
        await guest.MustAsync(StartWriter);

        var incoming = await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(targetDisk)] }, CancellationToken.None);
        Assert.Equal(ProcessPower.Paused, incoming.Power);
        var endpoint = await target.Driver.ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);
        Assert.Matches(@"^127\.0\.0\.1:\d+$", endpoint);

        var mirroring = Stopwatch.StartNew();
        await source.Driver.StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        var ready = await source.WaitForMirrorAsync(Vm, MirrorReady, p => p.Ready);
        mirroring.Stop();
        var roundsAtReady = await guest.ValueAsync("$(cat /mnt/count)");
        Output.WriteLine($"mirror ready after {mirroring.ElapsedMilliseconds} ms: {ready.CopiedBytes} of {ready.TotalBytes} bytes (a {DiskSize} disk with 4 MiB of file data); writer at round {roundsAtReady}");

        // The memory follows as in any live migration, except that the source stops before its switch-over: there the
        // jobs end (their last copy made with the guest stopped), and then the migration goes on to completed.
        var migrating = Stopwatch.StartNew();
        await source.SendMemoryAsync(target, Vm);
        await source.WaitForMigrationAsync(Vm, MigrationEnd, p => p.Status == "pre-switchover");
        var paused = Stopwatch.StartNew();
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"at the switch-over, the mirror ended in {paused.ElapsedMilliseconds} ms");
        Assert.Empty(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        var sent = await source.WaitForMigrationAsync(Vm, MigrationEnd, p => p.IsFinished);
        var received = await target.WaitForMigrationAsync(Vm, MigrationEnd, p => p.IsFinished);
        Assert.Equal("completed", sent.Status);
        Assert.Equal("completed", received.Status);
        Output.WriteLine($"memory migration completed in {migrating.ElapsedMilliseconds} ms (QEMU {sent.TotalMs} ms, downtime {sent.DowntimeMs} ms)");

        // The order libvirt keeps too: the target stops serving its disks before its guest runs, so that nothing can
        // write under it through the export.
        await target.Driver.EndExportAsync(Vm, CancellationToken.None);
        await target.Driver.ResumeAsync(Vm, CancellationToken.None);
        await source.StopAsync(Vm, QemuSandbox.Force);
        await source.EndedAsync(Vm, ProcessEnd);

        var moved = new GuestShell(target.Driver, Vm, target.Console(Vm)) { StepTimeout = Step };
        await moved.MustAsync(StopWriter);
        var rounds = await moved.ValueAsync("$(cat /mnt/count)");
        Output.WriteLine($"writer stopped on the target at round {rounds}");
        Assert.True(int.Parse(rounds, CultureInfo.InvariantCulture) > int.Parse(roundsAtReady, CultureInfo.InvariantCulture), $"the writer made no round after round {roundsAtReady}");
        var (cachedData, cachedLive) = (await moved.Sha256Async("/mnt/data"), await moved.Sha256Async("/mnt/live"));
        await moved.MustAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, cachedData);
        Assert.Equal(dataSum, await moved.Sha256Async("/mnt/data"));
        Assert.Equal(cachedLive, await moved.Sha256Async("/mnt/live"));
        await moved.MustAsync("umount /mnt");
        await target.StopAsync(Vm, QemuSandbox.Force);
        await target.EndedAsync(Vm, ProcessEnd);

        var image = await RawImageAsync(targetDisk);
        Output.WriteLine($"qcow2 files: source {new FileInfo(spec.Disks[0].Path).Length} bytes, target {new FileInfo(targetDisk).Length} bytes");
        await CheckFileSystemAsync(image);
        Assert.Equal(dataSum, await HostSumAsync(image, "/data"));
        Assert.Equal(cachedLive, await HostSumAsync(image, "/live"));
    }

    [Fact]
    public async Task EndMirror_BeforeReady_LeavesTheSourceRunningWithItsDataAndNoNbdClient()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync();
        var target = new Harness(await targetSandbox.CreateDriverAsync());
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await StorageTools.CreateQcow2Async(Sandbox.DisksDirectory, "source", DiskSize))] };
        await source.LaunchAsync(spec);
        var guest = await ReadyShellAsync(source);
        var dataSum = await PrepareFileSystemAsync(guest, dataMiB: 16);

        await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await StorageTools.CreateQcow2Async(targetSandbox.DisksDirectory, "target", DiskSize))] }, CancellationToken.None);
        var endpoint = await target.Driver.ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);

        // 1 MiB/s over 16 MiB of data: the copy is still far from ready when it is cancelled.
        await source.Driver.StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: 1 << 20, CancellationToken.None);
        await source.WaitForMirrorAsync(Vm, TimeSpan.FromSeconds(10), p => p.CopiedBytes > 0);
        await Task.Delay(TimeSpan.FromSeconds(1));
        var progress = Assert.Single(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        Output.WriteLine($"cancelling at {progress.CopiedBytes} of {progress.TotalBytes} bytes");
        Assert.False(progress.Ready);
        Assert.Null(progress.Error);

        // The memory may not go ahead of its disks.
        var early = await Assert.ThrowsAsync<HypervisorException>(() => source.SendMemoryAsync(target, Vm));
        Assert.Equal(HypervisorErrorKind.Conflict, early.Kind);
        Output.WriteLine(early.Message);

        var ending = Stopwatch.StartNew();
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"mirror ended in {ending.ElapsedMilliseconds} ms");
        Assert.Empty(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));
        await target.Driver.EndExportAsync(Vm, CancellationToken.None);
        await target.StopAsync(Vm, QemuSandbox.Force);
        await target.EndedAsync(Vm, ProcessEnd);

        // Harmless when nothing is left to end.
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);

        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
        await guest.MustAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.Sha256Async("/mnt/data"));
        await guest.MustAsync("dd if=/dev/urandom of=/mnt/after bs=64k count=16 2>/dev/null && sync");
    }

    [Fact]
    public async Task TargetKilled_DuringTheMirror_FailsTheJob_AndTheSourceGuestRunsOn()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);

        // Ready, so every guest write now goes to the target as well: the writer's next round finds it gone.
        Processes.Kill(incoming.Pid!.Value);
        await target.EndedAsync(Vm, ProcessEnd);
        var failed = await source.WaitForMirrorAsync(Vm, TimeSpan.FromSeconds(20), p => p.Error is not null);
        Output.WriteLine($"the source's job reports: {failed.Error}");
        Assert.False(failed.Ready);

        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        Assert.Empty(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));

        // The guest never saw an error, and its writer goes on.
        var before = int.Parse(await guest.ValueAsync("$(cat /mnt/count)"), CultureInfo.InvariantCulture);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = int.Parse(await guest.ValueAsync("$(cat /mnt/count)"), CultureInfo.InvariantCulture);
        Assert.True(after > before, $"the writer stalled at round {before}");
        await guest.MustAsync(StopWriter);
        await guest.MustAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.Sha256Async("/mnt/data"));
        Assert.Equal("0", await guest.ValueAsync("$(dmesg | grep -ci 'error')"));
        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
    }

    [Fact]
    public async Task TargetHung_HoldsTheGuestsWrites_UntilEndMirrorCutsItOff()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);

        // A target that stops answering (SIGSTOP: its sockets stay open) holds every write-blocking guest write: the
        // writer's next sync waits, and with it the round count (one round may still finish).
        await StorageTools.RunAsync("kill", "-STOP", incoming.Pid!.Value.ToString(CultureInfo.InvariantCulture));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var held = int.Parse(await guest.ValueAsync("$(cat /mnt/count)"), CultureInfo.InvariantCulture);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var stillHeld = int.Parse(await guest.ValueAsync("$(cat /mnt/count)"), CultureInfo.InvariantCulture);
        Output.WriteLine($"writer at round {held}, then {stillHeld} two seconds later, with the target stopped");
        Assert.InRange(stillHeld - held, 0, 1);

        var ending = Stopwatch.StartNew();
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"mirror ended in {ending.ElapsedMilliseconds} ms");
        Assert.Empty(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));

        // Cut off, the target no longer holds anything: the writer goes on.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int rounds;
        while ((rounds = int.Parse(await guest.ValueAsync("$(cat /mnt/count)"), CultureInfo.InvariantCulture)) <= stillHeld + 1)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the writer stayed at round {rounds} after the mirror ended");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        await guest.MustAsync(StopWriter);
        await guest.MustAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.Sha256Async("/mnt/data"));
        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
        Processes.Kill(incoming.Pid.Value);
        await target.EndedAsync(Vm, ProcessEnd);
    }

    [Fact]
    public async Task TargetKilled_AtTheSwitchOver_EndMirrorCancelsTheMigration_AndTheSourceRunsOn()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);
        await source.SendMemoryAsync(target, Vm);
        await source.WaitForMigrationAsync(Vm, MigrationEnd, p => p.Status == "pre-switchover");

        // The source's guest is stopped, its memory sent: the target dies before the jobs make their last copy.
        Processes.Kill(incoming.Pid!.Value);
        await target.EndedAsync(Vm, ProcessEnd);
        var refused = await Assert.ThrowsAsync<HypervisorException>(() => source.Driver.EndMirrorAsync(Vm, CancellationToken.None));
        Output.WriteLine(refused.Message);
        Assert.Equal(HypervisorErrorKind.Failed, refused.Kind);

        // The migration is over and did not complete; the source's guest runs again, with its disk as it was.
        var after = await source.Driver.QueryAsync(Vm, CancellationToken.None);
        Output.WriteLine($"source after: migration {after.Status}, guest {after.RunState}");
        Assert.True(after.IsFinished && after.Status != "completed", $"the migration is {after.Status}");
        Assert.Equal("running", after.RunState);
        Assert.Empty(await source.Driver.QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        await guest.MustAsync(StopWriter);
        await guest.MustAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.Sha256Async("/mnt/data"));
        Assert.Equal("0", await guest.ValueAsync("$(dmesg | grep -ci 'error')"));
    }

    private static DiskSpec Disk(string path) => new(Slot: 0, path, "qcow2", Serial: "data");

    /// <summary>
    /// The scene three tests start from: the linux guest on the source with a file system, 4 MiB of data and its
    /// writer running; the target's incoming process exporting its empty disk; the source's mirror into it in sync.
    /// </summary>
    private async Task<(Harness Source, Harness Target, GuestShell Guest, string DataSum, ProcessStatus Incoming)> MirrorInSyncAsync(QemuSandbox targetSandbox)
    {
        var source = await StartDriverAsync();
        var target = new Harness(await targetSandbox.CreateDriverAsync());
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await StorageTools.CreateQcow2Async(Sandbox.DisksDirectory, "source", DiskSize))] };
        await source.LaunchAsync(spec);
        var guest = await ReadyShellAsync(source);
        var dataSum = await PrepareFileSystemAsync(guest, dataMiB: 4);
        await guest.MustAsync(StartWriter);

        var incoming = await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await StorageTools.CreateQcow2Async(targetSandbox.DisksDirectory, "target", DiskSize))] }, CancellationToken.None);
        var endpoint = await target.Driver.ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);
        await source.Driver.StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        await source.WaitForMirrorAsync(Vm, MirrorReady, p => p.Ready);
        return (source, target, guest, dataSum, incoming);
    }

    /// <summary>The qcow2 volume as a raw image beside it, for the host's e2fsprogs.</summary>
    private static async Task<string> RawImageAsync(string qcow2)
    {
        var raw = Path.ChangeExtension(qcow2, ".raw");
        await StorageTools.RunAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2, raw);
        return raw;
    }

    private async Task CheckFileSystemAsync(string image)
    {
        if (!File.Exists("/sbin/e2fsck"))
        {
            Output.WriteLine("e2fsck is not installed here (e2fsprogs): the file system check is skipped");
            return;
        }

        // -f: check even a file system marked clean; -n: change nothing. Exit code 0: no errors at all.
        var report = await StorageTools.RunAsync("/sbin/e2fsck", "-f", "-n", image);
        Output.WriteLine(report.Trim());
    }

    private static async Task<string> HostSumAsync(string image, string file)
    {
        var copy = $"{image}{file.Replace('/', '-')}";
        await StorageTools.RunAsync("/sbin/debugfs", "-R", $"dump {file} {copy}", image);
        return Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(copy)));
    }

    /// <summary>The guest's shell once its ready line is there; a step may take a minute while a mirror copies beside it.</summary>
    private static async Task<GuestShell> ReadyShellAsync(Harness host)
    {
        var console = host.Console(Vm);
        await console.WaitForAsync(GuestConsole.Ready(), LinuxBoot);
        return new GuestShell(host.Driver, Vm, console) { StepTimeout = Step };
    }

    /// <summary>An ext2 file system on the virtio disk at /mnt, with <paramref name="dataMiB"/> of random data in /mnt/data (synced); returns its sha256.</summary>
    private static async Task<string> PrepareFileSystemAsync(GuestShell guest, int dataMiB)
    {
        await guest.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount -t ext2 /dev/vda /mnt");
        await guest.MustAsync($"dd if=/dev/urandom of=/mnt/data bs=1M count={dataMiB} 2>/dev/null && dd if=/dev/zero of=/mnt/live bs=64k count=64 2>/dev/null && sync");
        return await guest.Sha256Async("/mnt/data");
    }
}
