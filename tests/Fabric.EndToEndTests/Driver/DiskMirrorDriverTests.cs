using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qemu;
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
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task Migration_WithItsDiskMirrored_KeepsEveryWrite_AndACleanFileSystem()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync();
        var target = new Harness(await targetSandbox.CreateDriverAsync());
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await CreateDiskAsync(Sandbox.DisksDirectory, "source"))] };
        var targetDisk = await CreateDiskAsync(targetSandbox.DisksDirectory, "target");
        await source.LaunchAsync(spec);
        var guest = new GuestShell(source.Driver, Vm);
        await guest.WaitReadyAsync(LinuxBoot);
        var dataSum = await guest.PrepareFileSystemAsync(dataMiB: 4);
        await guest.RunAsync(StartWriter);

        var incoming = await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(targetDisk)] }, CancellationToken.None);
        Assert.Equal(ProcessPower.Paused, incoming.Power);
        var endpoint = await Mirror(target).ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);
        Assert.Matches(@"^127\.0\.0\.1:\d+$", endpoint);

        var mirroring = Stopwatch.StartNew();
        await Mirror(source).StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        var ready = await WaitForReadyAsync(source, MirrorReady);
        mirroring.Stop();
        var roundsAtReady = await guest.ValueAsync("cat /mnt/count");
        Output.WriteLine($"mirror ready after {mirroring.ElapsedMilliseconds} ms: {ready.CopiedBytes} of {ready.TotalBytes} bytes (a {DiskSize} disk with 4 MiB of file data); writer at round {roundsAtReady}");

        // The memory follows as in any live migration, except that the source stops before its switch-over: there the
        // jobs end (their last copy made with the guest stopped), and then the migration goes on to completed.
        var migrating = Stopwatch.StartNew();
        await SendMemoryAsync(source, target);
        await WaitForMigrationAsync(source, p => p.Status == "pre-switchover", MigrationEnd);
        var paused = Stopwatch.StartNew();
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"at the switch-over, the mirror ended in {paused.ElapsedMilliseconds} ms");
        Assert.Empty(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        var sent = await WaitForMigrationAsync(source, p => p.IsFinished, MigrationEnd);
        var received = await WaitForMigrationAsync(target, p => p.IsFinished, MigrationEnd);
        Assert.Equal("completed", sent.Status);
        Assert.Equal("completed", received.Status);
        Output.WriteLine($"memory migration completed in {migrating.ElapsedMilliseconds} ms (QEMU {sent.TotalMs} ms, downtime {sent.DowntimeMs} ms)");

        // The order libvirt keeps too: the target stops serving its disks before its guest runs, so that nothing can
        // write under it through the export.
        await Mirror(target).EndExportAsync(Vm, CancellationToken.None);
        await target.Driver.ResumeAsync(Vm, CancellationToken.None);
        await source.StopAsync(Vm, QemuSandbox.Force);
        await source.EndedAsync(Vm, ProcessEnd);

        var moved = new GuestShell(target.Driver, Vm);
        await moved.RunAsync(StopWriter);
        var rounds = await moved.ValueAsync("cat /mnt/count");
        Output.WriteLine($"writer stopped on the target at round {rounds}");
        Assert.True(int.Parse(rounds, CultureInfo.InvariantCulture) > int.Parse(roundsAtReady, CultureInfo.InvariantCulture), $"the writer made no round after round {roundsAtReady}");
        var (cachedData, cachedLive) = (await moved.SumAsync("/mnt/data"), await moved.SumAsync("/mnt/live"));
        await moved.RunAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, cachedData);
        Assert.Equal(dataSum, await moved.SumAsync("/mnt/data"));
        Assert.Equal(cachedLive, await moved.SumAsync("/mnt/live"));
        await moved.RunAsync("umount /mnt");
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
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await CreateDiskAsync(Sandbox.DisksDirectory, "source"))] };
        await source.LaunchAsync(spec);
        var guest = new GuestShell(source.Driver, Vm);
        await guest.WaitReadyAsync(LinuxBoot);
        var dataSum = await guest.PrepareFileSystemAsync(dataMiB: 16);

        await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await CreateDiskAsync(targetSandbox.DisksDirectory, "target"))] }, CancellationToken.None);
        var endpoint = await Mirror(target).ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);

        // 1 MiB/s over 16 MiB of data: the copy is still far from ready when it is cancelled.
        await Mirror(source).StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: 1 << 20, CancellationToken.None);
        await WaitForMirrorAsync(source, p => p.CopiedBytes > 0, TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var progress = Assert.Single(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        Output.WriteLine($"cancelling at {progress.CopiedBytes} of {progress.TotalBytes} bytes");
        Assert.False(progress.Ready);
        Assert.Null(progress.Error);

        // The memory may not go ahead of its disks.
        var early = await Assert.ThrowsAsync<HypervisorException>(() => SendMemoryAsync(source, target));
        Assert.Equal(HypervisorErrorKind.Conflict, early.Kind);
        Output.WriteLine(early.Message);

        var ending = Stopwatch.StartNew();
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"mirror ended in {ending.ElapsedMilliseconds} ms");
        Assert.Empty(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));
        await Mirror(target).EndExportAsync(Vm, CancellationToken.None);
        await target.StopAsync(Vm, QemuSandbox.Force);
        await target.EndedAsync(Vm, ProcessEnd);

        // Harmless when nothing is left to end.
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);

        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
        await guest.RunAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.SumAsync("/mnt/data"));
        await guest.RunAsync("dd if=/dev/urandom of=/mnt/after bs=64k count=16 2>/dev/null && sync");
    }

    [Fact]
    public async Task TargetKilled_DuringTheMirror_FailsTheJob_AndTheSourceGuestRunsOn()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);

        // Ready, so every guest write now goes to the target as well: the writer's next round finds it gone.
        Processes.Kill(incoming.Pid!.Value);
        await target.EndedAsync(Vm, ProcessEnd);
        var failed = await WaitForMirrorAsync(source, p => p.Error is not null, TimeSpan.FromSeconds(20));
        Output.WriteLine($"the source's job reports: {failed.Error}");
        Assert.False(failed.Ready);

        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        Assert.Empty(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));

        // The guest never saw an error, and its writer goes on.
        var before = int.Parse(await guest.ValueAsync("cat /mnt/count"), CultureInfo.InvariantCulture);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = int.Parse(await guest.ValueAsync("cat /mnt/count"), CultureInfo.InvariantCulture);
        Assert.True(after > before, $"the writer stalled at round {before}");
        await guest.RunAsync(StopWriter);
        await guest.RunAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.SumAsync("/mnt/data"));
        Assert.Equal("0", await guest.ValueAsync("dmesg | grep -ci 'error'"));
        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
    }

    [Fact]
    public async Task TargetHung_HoldsTheGuestsWrites_UntilEndMirrorCutsItOff()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);

        // A target that stops answering (SIGSTOP: its sockets stay open) holds every write-blocking guest write: the
        // writer's next sync waits, and with it the round count (one round may still finish).
        await ToolAsync("kill", "-STOP", incoming.Pid!.Value.ToString(CultureInfo.InvariantCulture));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var held = int.Parse(await guest.ValueAsync("cat /mnt/count"), CultureInfo.InvariantCulture);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var stillHeld = int.Parse(await guest.ValueAsync("cat /mnt/count"), CultureInfo.InvariantCulture);
        Output.WriteLine($"writer at round {held}, then {stillHeld} two seconds later, with the target stopped");
        Assert.InRange(stillHeld - held, 0, 1);

        var ending = Stopwatch.StartNew();
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        Output.WriteLine($"mirror ended in {ending.ElapsedMilliseconds} ms");
        Assert.Empty(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));

        // Cut off, the target no longer holds anything: the writer goes on.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int rounds;
        while ((rounds = int.Parse(await guest.ValueAsync("cat /mnt/count"), CultureInfo.InvariantCulture)) <= stillHeld + 1)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the writer stayed at round {rounds} after the mirror ended");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        await guest.RunAsync(StopWriter);
        await guest.RunAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.SumAsync("/mnt/data"));
        Assert.Equal(ProcessPower.Running, source.Driver.GetStatus(Vm).Power);
        Processes.Kill(incoming.Pid.Value);
        await target.EndedAsync(Vm, ProcessEnd);
    }

    [Fact]
    public async Task TargetKilled_AtTheSwitchOver_EndMirrorCancelsTheMigration_AndTheSourceRunsOn()
    {
        await using var targetSandbox = new QemuSandbox(Output);
        var (source, target, guest, dataSum, incoming) = await MirrorInSyncAsync(targetSandbox);
        await SendMemoryAsync(source, target);
        await WaitForMigrationAsync(source, p => p.Status == "pre-switchover", MigrationEnd);

        // The source's guest is stopped, its memory sent: the target dies before the jobs make their last copy.
        Processes.Kill(incoming.Pid!.Value);
        await target.EndedAsync(Vm, ProcessEnd);
        var refused = await Assert.ThrowsAsync<HypervisorException>(() => Mirror(source).EndMirrorAsync(Vm, CancellationToken.None));
        Output.WriteLine(refused.Message);
        Assert.Equal(HypervisorErrorKind.Failed, refused.Kind);

        // The migration is over and did not complete; the source's guest runs again, with its disk as it was.
        var after = await Migration(source).QueryAsync(Vm, CancellationToken.None);
        Output.WriteLine($"source after: migration {after.Status}, guest {after.RunState}");
        Assert.True(after.IsFinished && after.Status != "completed", $"the migration is {after.Status}");
        Assert.Equal("running", after.RunState);
        Assert.Empty(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None));
        Assert.DoesNotContain(await source.Driver.BlockNodeNamesAsync(Vm, CancellationToken.None), name => name.StartsWith("mirror", StringComparison.Ordinal));
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        await guest.RunAsync(StopWriter);
        await guest.RunAsync("echo 3 >/proc/sys/vm/drop_caches");
        Assert.Equal(dataSum, await guest.SumAsync("/mnt/data"));
        Assert.Equal("0", await guest.ValueAsync("dmesg | grep -ci 'error'"));
    }

    private static IDiskMirror Mirror(Harness host) => ((IHypervisorDriver)host.Driver).Capability<IDiskMirror>()!;

    private static ILiveMigration Migration(Harness host) => ((IHypervisorDriver)host.Driver).Capability<ILiveMigration>()!;

    private static DiskSpec Disk(string path) => new(Slot: 0, path, "qcow2", Serial: "data");

    /// <summary>
    /// The scene three tests start from: the linux guest on the source with a file system, 4 MiB of data and its
    /// writer running; the target's incoming process exporting its empty disk; the source's mirror into it in sync.
    /// </summary>
    private async Task<(Harness Source, Harness Target, GuestShell Guest, string DataSum, ProcessStatus Incoming)> MirrorInSyncAsync(QemuSandbox targetSandbox)
    {
        var source = await StartDriverAsync();
        var target = new Harness(await targetSandbox.CreateDriverAsync());
        var spec = QemuSandbox.Linux(Vm) with { Disks = [Disk(await CreateDiskAsync(Sandbox.DisksDirectory, "source"))] };
        await source.LaunchAsync(spec);
        var guest = new GuestShell(source.Driver, Vm);
        await guest.WaitReadyAsync(LinuxBoot);
        var dataSum = await guest.PrepareFileSystemAsync(dataMiB: 4);
        await guest.RunAsync(StartWriter);

        var incoming = await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await CreateDiskAsync(targetSandbox.DisksDirectory, "target"))] }, CancellationToken.None);
        var endpoint = await Mirror(target).ExportDisksAsync(Vm, Loopback, [0], CancellationToken.None);
        await Mirror(source).StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        await WaitForReadyAsync(source, MirrorReady);
        return (source, target, guest, dataSum, incoming);
    }

    private static async Task<string> CreateDiskAsync(string directory, string name)
    {
        var path = Path.Combine(directory, $"{name}.qcow2");
        await ToolAsync("qemu-img", "create", "-q", "-f", "qcow2", path, DiskSize);
        return path;
    }

    private static async Task<DiskMirrorProgress> WaitForReadyAsync(Harness host, TimeSpan timeout) =>
        await WaitForMirrorAsync(host, p => p.Ready, timeout);

    /// <summary>Polls the one mirror until <paramref name="condition"/> holds; an error fails the wait unless asked for.</summary>
    private static async Task<DiskMirrorProgress> WaitForMirrorAsync(Harness host, Func<DiskMirrorProgress, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var progress = Assert.Single(await Mirror(host).QueryMirrorAsync(Vm, CancellationToken.None));
            if (condition(progress))
            {
                return progress;
            }

            Assert.True(progress.Error is null, $"the mirror failed: {progress.Error}");
            Assert.True(DateTime.UtcNow < deadline, $"the mirror did not get there within {timeout.TotalSeconds:0} s: {progress}");
            await Task.Delay(Poll);
        }
    }

    /// <summary>The target listens, the source sends (the memory, with no cap).</summary>
    private static async Task SendMemoryAsync(Harness source, Harness target)
    {
        var features = new MigrationFeatures(Postcopy: false);
        var uri = await Migration(target).ListenAsync(Vm, Loopback, features, CancellationToken.None);
        await Migration(source).SendAsync(Vm, uri, new MigrationSettings(features, AutoConverge: false, DowntimeLimit: null, BandwidthBytesPerSecond: null), CancellationToken.None);
    }

    private static async Task<MigrationProgress> WaitForMigrationAsync(Harness host, Func<MigrationProgress, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var progress = await Migration(host).QueryAsync(Vm, CancellationToken.None);
            if (condition(progress))
            {
                return progress;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the migration did not get there within {timeout.TotalSeconds:0} s: {progress}");
            await Task.Delay(Poll);
        }
    }

    /// <summary>The qcow2 volume as a raw image beside it, for the host's e2fsprogs.</summary>
    private static async Task<string> RawImageAsync(string qcow2)
    {
        var raw = Path.ChangeExtension(qcow2, ".raw");
        await ToolAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2, raw);
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
        var report = await ToolAsync("/sbin/e2fsck", "-f", "-n", image);
        Output.WriteLine(report.Trim());
    }

    private static async Task<string> HostSumAsync(string image, string file)
    {
        var copy = $"{image}{file.Replace('/', '-')}";
        await ToolAsync("/sbin/debugfs", "-R", $"dump {file} {copy}", image);
        return Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(copy)));
    }

    private static async Task<string> ToolAsync(string program, params string[] arguments)
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
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} exited with code {process.ExitCode}: {await stderr}{await stdout}");
        return await stdout;
    }

    /// <summary>Commands typed into the guest's root shell, each followed by a marker line that carries its result.</summary>
    private sealed class GuestShell(QemuDriver driver, string vm)
    {
        private static readonly TimeSpan Step = TimeSpan.FromSeconds(60);

        private readonly ConsoleTail _console = new(driver, vm);
        private int _steps;

        public Task<Match> WaitReadyAsync(TimeSpan timeout) => _console.WaitForAsync(GuestConsole.Ready(), timeout);

        /// <summary>Waits for the line of a command's marker; on a timeout, says what the console showed apart from the ticks.</summary>
        private async Task<Match> WaitForMarkerAsync(Regex marker)
        {
            try
            {
                return await _console.WaitForAsync(marker, Step);
            }
            catch (TimeoutException ex)
            {
                var read = await ((IGuestConsole)driver).ReadConsoleAsync(vm, 0, 1 << 20, TimeSpan.Zero, CancellationToken.None);
                var lines = Encoding.UTF8.GetString(read.Data).Split('\n').Where(line => !GuestConsole.Tick().IsMatch(line.TrimEnd('\r')));
                throw new TimeoutException($"{ex.Message}\nThe console without its ticks:\n  {string.Join("\n  ", lines)}", ex);
            }
        }

        /// <summary>Runs <paramref name="command"/> and fails unless it exits 0.</summary>
        public async Task RunAsync(string command)
        {
            var tag = NextTag();

            // The shell echoes the typed line with $((6*7)) unexpanded: only the command's own marker says 42.
            await SendAsync($"{command}; echo {tag}-$((6*7)) rc=$?");
            var rc = (await WaitForMarkerAsync(new Regex($@"(^|\s){tag}-42 rc=(?<rc>\d+)$"))).Groups["rc"].Value;
            Assert.True(rc == "0", $"`{command}` exited with {rc} in the guest. {_console.Evidence()}");
        }

        /// <summary>The output of a shell expression (one line).</summary>
        public async Task<string> ValueAsync(string expression)
        {
            var tag = NextTag();
            await SendAsync($"echo {tag}-$((6*7)) \"$({expression})\"");
            return (await WaitForMarkerAsync(new Regex($@"(^|\s){tag}-42 (?<value>.*)$"))).Groups["value"].Value.Trim();
        }

        public async Task<string> SumAsync(string file)
        {
            var sum = await ValueAsync($"sha256sum {file} | cut -d' ' -f1");
            Assert.Matches("^[0-9a-f]{64}$", sum);
            return sum;
        }

        /// <summary>An ext2 file system on the virtio disk at /mnt, with <paramref name="dataMiB"/> of random data in /mnt/data (synced); returns its sha256.</summary>
        public async Task<string> PrepareFileSystemAsync(int dataMiB)
        {
            await RunAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount -t ext2 /dev/vda /mnt");
            await RunAsync($"dd if=/dev/urandom of=/mnt/data bs=1M count={dataMiB} 2>/dev/null && dd if=/dev/zero of=/mnt/live bs=64k count=64 2>/dev/null && sync");
            return await SumAsync("/mnt/data");
        }

        private string NextTag() => $"step{++_steps}";

        private Task SendAsync(string line) => driver.SendConsoleAsync(vm, Encoding.ASCII.GetBytes(line + "\n"), CancellationToken.None);
    }
}
