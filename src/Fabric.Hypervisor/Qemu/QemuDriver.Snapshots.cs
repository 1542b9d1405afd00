using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Snapshots with memory (see <see cref="ISnapshots"/>): QEMU's migration stream sent over a UNIX socket the driver
/// serves and copied into a file by the driver (<see cref="SnapshotStream"/>), and read back by a process launched as a migration's target (<see cref="LaunchSpec.Incoming"/>). The
/// VM's disks are snapshotted inside their qcow2 files (internal snapshots named like the snapshot) while the guest
/// stands still at the moment its memory is captured, and reverted with <c>qemu-img snapshot -a</c> before a restore.
/// </summary>
public sealed partial class QemuDriver : ISnapshots
{
    /// <summary>The folder, under the data directory, of every VM's snapshots (apart from <c>vms/</c>, which fencing deletes).</summary>
    public const string SnapshotsFolder = "snapshots";

    /// <summary>A snapshot's file name is its name plus this.</summary>
    public const string SnapshotExtension = ".state";

    /// <summary>How closely a snapshot's stream is watched: a pre-copy's guest is resumed as soon as it completes.</summary>
    private static readonly TimeSpan SnapshotPoll = TimeSpan.FromMilliseconds(5);

    /// <summary>The longest a snapshot or a restore may stream before it is given up (at QEMU's pace here, about 8 GiB).</summary>
    private static readonly TimeSpan SnapshotTimeout = TimeSpan.FromMinutes(5);

    /// <summary>How long after QEMU reports completion the writer may take to put the stream's last bytes on disk.</summary>
    private static readonly TimeSpan WriterPatience = TimeSpan.FromSeconds(5);

    /// <summary>How long after the guest's resumption its <c>RESUME</c> event may take to reach the monitor.</summary>
    private static readonly TimeSpan ResumeEventPatience = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Whether a running guest is snapshotted with QEMU's <c>background-snapshot</c> (when QEMU accepts it); false
    /// always uses a pre-copy to the file. Tests set it to exercise both.
    /// </summary>
    internal bool PreferBackgroundSnapshot { get; set; } = true;

    public async Task<SnapshotResult> CreateSnapshotAsync(string vm, string snapshot, CancellationToken cancellationToken)
    {
        var path = SnapshotPath(vm, snapshot);
        var qemu = Require(vm);
        if (!qemu.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' has no running process to snapshot");
        }

        // No disk or NIC comes or goes while the snapshot is taken: it covers exactly the devices listed now.
        using var disksHeld = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var disks = DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId);
        EnsureInternalSnapshots(vm, disks);

        var under = String(await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false), "status");
        if (under is not (null or "none" or "completed" or "failed" or "cancelled"))
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': a migration of its process is under way ({under}); it cannot be snapshotted now");
        }

        var started = Stopwatch.GetTimestamp();
        var wasRunning = qemu.Status.Power == ProcessPower.Running;
        var (stoppedBefore, resumedBefore) = (qemu.StoppedAt, qemu.ResumedAt);
        var temporary = path + ".tmp";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(temporary);
        if (!disks.IsEmpty)
        {
            // The state file and the disks' internal snapshots are one snapshot: replacing it replaces both, so the old
            // pair goes first. A failure then leaves no snapshot of that name, never a file whose disks moved on.
            File.Delete(path);
            await DeleteDiskSnapshotsAsync(qemu, disks, snapshot, cancellationToken).ConfigureAwait(false);
        }

        // A paused guest needs no help to be consistent: a single pre-copy pass writes it as it is (QEMU 7.2's
        // background-snapshot would resume it for the whole stream).
        var method = wasRunning && PreferBackgroundSnapshot && await TryEnableBackgroundAsync(qemu, cancellationToken).ConfigureAwait(false)
            ? SnapshotMethods.Background
            : SnapshotMethods.Precopy;

        // Where the disks are snapshotted, at the guest moment the memory is captured:
        // - background-snapshot captures memory as it stops the vCPUs at the stream's start (after its set-up, which
        //   populates every page for userfaultfd while the guest still runs) and resumes them itself once its write
        //   protection is armed. So the vCPUs are stopped first and the disks snapshotted: the guest then stands still
        //   from before the disk snapshots to QEMU's capture (QEMU's stop finds it stopped), and QEMU's resume ends the
        //   pause. The pause grows by QEMU's set-up (measured in docs/snapshots.md), the price of that ordering.
        // - a pre-copy of a running guest stops it for its last pass: pause-before-switchover holds the stream there,
        //   with the vCPUs stopped and the disks still active, the disks are snapshotted, and the stream goes on.
        // - a paused guest stands still throughout: its disks are snapshotted first.
        var disksAtSwitchover = !disks.IsEmpty && wasRunning && method == SnapshotMethods.Precopy;
        using var streaming = new CancellationTokenSource();
        Task? receiving = null;
        try
        {
            if (method == SnapshotMethods.Precopy)
            {
                await SetSnapshotCapabilitiesAsync(qemu, background: false, pauseBeforeSwitchover: disksAtSwitchover, cancellationToken).ConfigureAwait(false);
            }

            var parameters = new JsonObject
            {
                ["downtime-limit"] = 300L,
                ["max-bandwidth"] = 1L << 40, // 0 would mean QEMU's default of 32 MiB/s in 7.2, not unlimited.

                // The stream stays on this host (a UNIX socket the driver serves): no TLS, even in a process that last
                // sent a migration, or received one and so still holds its server credentials.
                ["tls-creds"] = "",
            };
            await qemu.CommandAsync("migrate-set-parameters", parameters, cancellationToken).ConfigureAwait(false);
            if (!disks.IsEmpty && !disksAtSwitchover)
            {
                if (wasRunning)
                {
                    await qemu.ExecuteAsync("stop", ProcessPower.Paused, cancellationToken).ConfigureAwait(false);
                }

                await TakeDiskSnapshotsAsync(qemu, disks, snapshot, cancellationToken).ConfigureAwait(false);
            }

            receiving = SnapshotStream.ReceiveAsync(qemu.Paths.MigrationSocket, UidOf(qemu), _gid, temporary, streaming.Token);
            await qemu.CommandAsync("migrate", new JsonObject { ["uri"] = "unix:" + qemu.Paths.MigrationSocket }, cancellationToken).ConfigureAwait(false);
            Func<Task>? atSwitchover = disksAtSwitchover ? () => TakeDiskSnapshotsAsync(qemu, disks, snapshot, cancellationToken) : null;
            var end = await AwaitOutgoingAsync(qemu, resumeOnCompletion: wasRunning && method == SnapshotMethods.Precopy, atSwitchover, cancellationToken).ConfigureAwait(false);
            if (String(end, "status") != "completed")
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': snapshot '{snapshot}' failed: QEMU's stream ended {String(end, "status")} ({String(end, "error-desc") ?? "no reason given"})");
            }

            if (wasRunning && method == SnapshotMethods.Background && !disks.IsEmpty)
            {
                // QEMU 7.2 resumes the vCPUs it stopped even though they were stopped before; should a QEMU leave them
                // as it found them, the guest must not stay paused.
                await EnsureRunningAsync(qemu).ConfigureAwait(false);
            }

            if (!wasRunning)
            {
                await LeavePostmigrateAsync(qemu, cancellationToken).ConfigureAwait(false);
            }

            // QEMU closes the socket after the stream's last byte; the copy ends there.
            await receiving.WaitAsync(WriterPatience, cancellationToken).ConfigureAwait(false);
            await AwaitCompleteFileAsync(vm, snapshot, temporary, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            await streaming.CancelAsync().ConfigureAwait(false);
            if (receiving is not null)
            {
                await receiving.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
            }

            TryDelete(temporary);
            if (wasRunning)
            {
                await EnsureRunningAsync(qemu).ConfigureAwait(false);
            }

            if (!disks.IsEmpty)
            {
                await TryDeleteDiskSnapshotsAsync(qemu, disks, snapshot).ConfigureAwait(false);
            }

            throw;
        }
        finally
        {
            // Left on, background-snapshot would refuse the validate-uuid of a later live migration of this process,
            // and pause-before-switchover would hold that migration before its switch-over.
            await ResetSnapshotCapabilitiesAsync(qemu, background: method == SnapshotMethods.Background, pauseBeforeSwitchover: disksAtSwitchover).ConfigureAwait(false);
        }

        var pause = wasRunning ? await GuestPauseAsync(qemu, stoppedBefore, resumedBefore, cancellationToken).ConfigureAwait(false) : null;
        var total = Stopwatch.GetElapsedTime(started);
        var file = new SnapshotFile(path, new FileInfo(path).Length);
        LogSnapshotTaken(vm, snapshot, method, file.SizeBytes, disks.Length, pause?.TotalMilliseconds, total.TotalMilliseconds);
        return new SnapshotResult(file, wasRunning, pause, total, method);
    }

    public async Task<ProcessStatus> RestoreSnapshotAsync(LaunchSpec spec, string snapshot, bool resume, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var path = SnapshotPath(spec.Vm, snapshot);
        if (!File.Exists(path))
        {
            throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{spec.Vm}' has no snapshot '{snapshot}' on this host (no file {path})");
        }

        if (!MigrationStreamFile.HasHeader(path))
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{spec.Vm}': snapshot '{snapshot}' ({path}) is not a QEMU migration stream");
        }

        var started = Stopwatch.GetTimestamp();
        await RevertDisksAsync(spec, snapshot, cancellationToken).ConfigureAwait(false);
        await LaunchAsync(spec with { Incoming = true }, cancellationToken).ConfigureAwait(false);
        var qemu = Require(spec.Vm);
        try
        {
            // A new process starts with QEMU's defaults; set them anyway, so the stream is read exactly as it was written.
            await SetSnapshotCapabilitiesAsync(qemu, background: false, pauseBeforeSwitchover: false, cancellationToken).ConfigureAwait(false);
            // QEMU listens in its own run directory; the driver, which may read the file, connects and sends it.
            File.Delete(qemu.Paths.MigrationSocket);
            await qemu.CommandAsync("migrate-incoming", new JsonObject { ["uri"] = "unix:" + qemu.Paths.MigrationSocket }, cancellationToken).ConfigureAwait(false);
            await SnapshotStream.SendAsync(qemu.Paths.MigrationSocket, path, () => qemu.Status.IsAlive, _options.QmpTimeout, cancellationToken).ConfigureAwait(false);
            var end = await AwaitIncomingAsync(qemu, cancellationToken).ConfigureAwait(false);
            if (String(end, "status") != "completed")
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{spec.Vm}': snapshot '{snapshot}' could not be loaded: the stream ended {String(end, "status") ?? "unknown"} ({String(end, "error-desc") ?? qemu.Status.Reason ?? "no reason given"})");
            }

            // Resumed only now, at the caller's word; left paused, the process drops the launch's "inmigrate" reason.
            await qemu.ExecuteAsync(resume ? "cont" : "query-status", resume ? ProcessPower.Running : ProcessPower.Paused, cancellationToken).ConfigureAwait(false);
            if (resume)
            {
                await AnnounceArrivalAsync(qemu, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // A process that did not take the snapshot must not linger: stop it and let its end be observed.
            await StopAndAwaitExitAsync(qemu).ConfigureAwait(false);
            throw ex as HypervisorException ?? new HypervisorException(HypervisorErrorKind.Failed, $"vm '{spec.Vm}': snapshot '{snapshot}' could not be loaded: {ex.Message}", ex);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        LogSnapshotRestored(spec.Vm, snapshot, qemu.Pid ?? 0, resume, elapsed.TotalMilliseconds);
        return qemu.Status;
    }

    public SnapshotFile? FindSnapshot(string vm, string snapshot)
    {
        var file = new FileInfo(SnapshotPath(vm, snapshot));
        return file.Exists ? new SnapshotFile(file.FullName, file.Length) : null;
    }

    public async Task DeleteSnapshotAsync(string vm, string snapshot, IReadOnlyList<DiskSpec> disks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(disks);
        var path = SnapshotPath(vm, snapshot);
        foreach (var disk in disks)
        {
            disk.EnsureValid();
        }

        using (await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false))
        {
            // A file a live process holds is locked by it: only that process can change it, over QMP.
            var live = _vms.TryGetValue(vm, out var qemu) && qemu.Status.IsAlive ? qemu : null;
            var held = live is null ? [] : DiskRecord.Read(live.Paths.DisksFile, live.InstanceId);
            if (live is not null)
            {
                await DeleteDiskSnapshotsAsync(live, held, snapshot, cancellationToken).ConfigureAwait(false);
            }

            foreach (var disk in disks.Where(d => d.Format == "qcow2" && !held.Any(h => h.Path == d.Path) && File.Exists(d.Path)))
            {
                if ((await QemuImgSnapshots.ListAsync(disk.Path, cancellationToken).ConfigureAwait(false)).Contains(snapshot))
                {
                    await QemuImgSnapshots.DeleteAsync(disk.Path, snapshot, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        // The state file goes last: while it exists the snapshot is listed, and a repeated delete finishes the disks.
        File.Delete(path);
        File.Delete(path + ".tmp");
        LogSnapshotDeleted(vm, snapshot);
    }

    public Task DeleteSnapshotsAsync(string vm, CancellationToken cancellationToken)
    {
        var directory = SnapshotDirectory(vm);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
            LogSnapshotsDeleted(vm, directory);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Refuses a VM with a raw disk: raw files have no internal snapshots, so a snapshot could not restore that disk to
    /// the moment of its memory, and a guest restored onto disks that moved on corrupts their file systems.
    /// </summary>
    private static void EnsureInternalSnapshots(string vm, IEnumerable<DiskSpec> disks)
    {
        if (disks.FirstOrDefault(d => d.Format != "qcow2") is { } raw)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                $"vm '{vm}': disk {raw.Slot} ({raw.Serial}) is {raw.Format}, which has no internal snapshots; a snapshot of this VM could not restore it");
        }
    }

    /// <summary>One internal snapshot of every disk, all or none (a QMP transaction), while the guest stands still.</summary>
    private static async Task TakeDiskSnapshotsAsync(QemuVm qemu, IReadOnlyList<DiskSpec> disks, string snapshot, CancellationToken cancellationToken)
    {
        await qemu.CommandAsync("transaction", VirtioDisk.SnapshotTransaction(disks, snapshot), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes the live process's internal snapshots called <paramref name="snapshot"/> of these disks (those that have one).</summary>
    private static async Task DeleteDiskSnapshotsAsync(QemuVm qemu, IReadOnlyList<DiskSpec> disks, string snapshot, CancellationToken cancellationToken)
    {
        if (disks.Count == 0)
        {
            return;
        }

        var nodes = (await ReadDiskStateAsync(qemu, cancellationToken).ConfigureAwait(false)).Nodes;
        foreach (var disk in disks)
        {
            if (nodes.TryGetValue(disk.NodeName, out var node) && node.Snapshots.Contains(snapshot))
            {
                var arguments = new JsonObject { ["device"] = disk.NodeName, ["name"] = snapshot };
                await qemu.CommandAsync("blockdev-snapshot-delete-internal-sync", arguments, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task TryDeleteDiskSnapshotsAsync(QemuVm qemu, IReadOnlyList<DiskSpec> disks, string snapshot)
    {
        try
        {
            await DeleteDiskSnapshotsAsync(qemu, disks, snapshot, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HypervisorException ex)
        {
            LogSnapshotCleanupFailed(qemu.Name, $"the disks' internal snapshots '{snapshot}' of a failed snapshot could not be deleted", ex.Message);
        }
    }

    /// <summary>
    /// Before a restore's process opens them: reverts every disk of <paramref name="spec"/> to its internal snapshot,
    /// after checking that each has one (so that none is reverted when another cannot be).
    /// </summary>
    private async Task RevertDisksAsync(LaunchSpec spec, string snapshot, CancellationToken cancellationToken)
    {
        if (spec.Disks.IsEmpty)
        {
            return;
        }

        // Checked here as well as by the launch: the disks would be reverted under the running process's feet.
        if (_vms.TryGetValue(spec.Vm, out var running) && running.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{spec.Vm}' already has a running process (pid {running.Pid})");
        }

        EnsureDistinctDisks(spec.Disks);
        foreach (var disk in spec.Disks)
        {
            disk.EnsureValid();
        }

        EnsureInternalSnapshots(spec.Vm, spec.Disks);
        foreach (var disk in spec.Disks)
        {
            if (!File.Exists(disk.Path))
            {
                throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{spec.Vm}': disk {disk.Slot} ({disk.Serial}) has no file {disk.Path}");
            }

            if (!(await QemuImgSnapshots.ListAsync(disk.Path, cancellationToken).ConfigureAwait(false)).Contains(snapshot))
            {
                throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{spec.Vm}': disk {disk.Slot} ({disk.Serial}, {disk.Path}) has no snapshot '{snapshot}'");
            }
        }

        foreach (var disk in spec.Disks)
        {
            await QemuImgSnapshots.ApplyAsync(disk.Path, snapshot, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><c>&lt;data&gt;/snapshots/&lt;vm&gt;/&lt;snapshot&gt;.state</c>; both names are checked (nothing can escape the folder).</summary>
    internal string SnapshotPath(string vm, string snapshot)
    {
        try
        {
            VmPaths.EnsureSafeName(snapshot);
        }
        catch (HypervisorException)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"'{snapshot}' is not a safe snapshot name");
        }

        return Path.Combine(SnapshotDirectory(vm), snapshot + SnapshotExtension);
    }

    private string SnapshotDirectory(string vm)
    {
        VmPaths.EnsureSafeName(vm);
        return Path.Combine(_options.DataDirectory, SnapshotsFolder, vm);
    }

    /// <summary>The uid the VM's process runs as (the socket it streams to is given to it).</summary>
    private static int UidOf(QemuVm qemu) =>
        qemu.Uid ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{qemu.Name}': its process has no recorded uid (launched before confinement); it cannot be snapshotted");

    /// <summary>Turns QEMU's background-snapshot on (with the capabilities it excludes off); false when QEMU refuses it here.</summary>
    private async Task<bool> TryEnableBackgroundAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        try
        {
            await SetSnapshotCapabilitiesAsync(qemu, background: true, pauseBeforeSwitchover: false, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HypervisorException ex) when (ex.Kind == HypervisorErrorKind.Failed && qemu.Status.IsAlive)
        {
            // E.g. a kernel without userfaultfd write-protection, or memory it cannot track: fall back to pre-copy.
            LogBackgroundRefused(qemu.Name, ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Sets every capability a live migration sets (validate-uuid, postcopy-ram, auto-converge) plus background-snapshot
    /// and pause-before-switchover, so that a snapshot never inherits what a migration left on: validate-uuid is off
    /// because a restore is a new instance, with another uuid, and background-snapshot refuses it (and
    /// pause-before-switchover) anyway.
    /// </summary>
    private static Task<JsonElement> SetSnapshotCapabilitiesAsync(QemuVm qemu, bool background, bool pauseBeforeSwitchover, CancellationToken cancellationToken)
    {
        var capabilities = new JsonArray
        {
            Capability("validate-uuid", false),
            Capability("postcopy-ram", false),
            Capability("auto-converge", false),
            Capability("background-snapshot", background),

            // Set either way: left on by a migration whose disks were mirrored, it would hold the stream before its end.
            Capability("pause-before-switchover", pauseBeforeSwitchover),
        };
        return qemu.CommandAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = capabilities }, cancellationToken);
    }

    /// <summary>Turns off what a snapshot turned on and a later migration of the process must not find on.</summary>
    private async Task ResetSnapshotCapabilitiesAsync(QemuVm qemu, bool background, bool pauseBeforeSwitchover)
    {
        var capabilities = new JsonArray();
        if (background)
        {
            capabilities.Add(Capability("background-snapshot", false));
        }

        if (pauseBeforeSwitchover)
        {
            capabilities.Add(Capability("pause-before-switchover", false));
        }

        if (capabilities.Count == 0)
        {
            return;
        }

        try
        {
            await qemu.CommandAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = capabilities }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HypervisorException ex)
        {
            LogSnapshotCleanupFailed(qemu.Name, "the snapshot's migration capabilities could not be turned off", ex.Message);
        }
    }

    /// <summary>
    /// Watches an outgoing stream to its end; a pre-copy's guest (stopped for the last pass) is resumed at once. A
    /// stream held before its switch-over (pause-before-switchover) runs <paramref name="atSwitchover"/> there, with the
    /// vCPUs stopped, and goes on; when that fails, the stream is cancelled.
    /// </summary>
    private static async Task<JsonElement> AwaitOutgoingAsync(QemuVm qemu, bool resumeOnCompletion, Func<Task>? atSwitchover, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(SnapshotTimeout.TotalSeconds * Stopwatch.Frequency);
        var continued = false;
        while (true)
        {
            var info = await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
            var status = String(info, "status");
            if (status == "pre-switchover" && !continued)
            {
                // The status may read pre-switchover once more after migrate-continue, until the stream moves on.
                continued = true;
                try
                {
                    if (atSwitchover is not null)
                    {
                        await atSwitchover().ConfigureAwait(false);
                    }
                }
                catch
                {
                    await qemu.CommandAsync("migrate_cancel", null, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }

                await qemu.CommandAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" }, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (status is "completed" or "failed" or "cancelled")
            {
                if (status == "completed" && resumeOnCompletion)
                {
                    // The VM ends in postmigrate; the guest must not wait for anything else.
                    await qemu.ExecuteAsync("cont", ProcessPower.Running, cancellationToken).ConfigureAwait(false);
                }

                return info;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                await qemu.CommandAsync("migrate_cancel", null, CancellationToken.None).ConfigureAwait(false);
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{qemu.Name}': the snapshot did not complete within {SnapshotTimeout.TotalMinutes:0} minutes (status {status}); cancelled");
            }

            await Task.Delay(SnapshotPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Watches an incoming stream to its end, or to the end of the process that reads it.</summary>
    private static async Task<JsonElement> AwaitIncomingAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(SnapshotTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var info = await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
            if (String(info, "status") is "completed" or "failed" or "cancelled")
            {
                return info;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{qemu.Name}': the snapshot was not loaded within {SnapshotTimeout.TotalMinutes:0} minutes (status {String(info, "status")})");
            }

            await Task.Delay(SnapshotPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>QEMU reports completion before its writer has necessarily written the last bytes: wait for the trailer.</summary>
    private static async Task AwaitCompleteFileAsync(string vm, string snapshot, string path, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(WriterPatience.TotalSeconds * Stopwatch.Frequency);
        while (!(File.Exists(path) && MigrationStreamFile.IsComplete(path)))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                var size = File.Exists(path) ? new FileInfo(path).Length : 0;
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': snapshot '{snapshot}' came out incomplete ({size} bytes without the stream's trailer); it was discarded");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The guest's pause, from QEMU's own STOP and RESUME times. The RESUME event reaches the monitor loop just after
    /// QEMU answers, so wait briefly for it — and for the process's state to read Running, so that what the host
    /// reports next is not the pause.
    /// </summary>
    private static async Task<TimeSpan?> GuestPauseAsync(QemuVm qemu, DateTimeOffset? stoppedBefore, DateTimeOffset? resumedBefore, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(ResumeEventPatience.TotalSeconds * Stopwatch.Frequency);
        while ((qemu.ResumedAt == resumedBefore || qemu.Status.Power != ProcessPower.Running) && qemu.Status.IsAlive && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
        }

        return qemu.StoppedAt is { } stopped && stopped != stoppedBefore && qemu.ResumedAt is { } resumed && resumed != resumedBefore && resumed >= stopped
            ? resumed - stopped
            : null;
    }

    /// <summary>
    /// A completed pre-copy leaves a paused guest in QEMU's <c>postmigrate</c> state, from which QEMU 7.2 refuses any
    /// later migration (another snapshot, a live migration) until the guest has run again. Send <c>cont</c> and
    /// <c>stop</c> back to back, so that it is an ordinary pause again: its vCPUs run for about a millisecond (logged).
    /// The snapshot itself was written while they stood still.
    /// </summary>
    private async Task LeavePostmigrateAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var stoppedBefore = qemu.StoppedAt;
        var resuming = qemu.CommandAsync("cont", null, cancellationToken);
        var stopping = qemu.CommandAsync("stop", null, cancellationToken);
        await Task.WhenAll(resuming, stopping).ConfigureAwait(false);

        // The events reach the monitor loop just after the answers: the process reads Paused again once STOP has.
        var deadline = Stopwatch.GetTimestamp() + (long)(ResumeEventPatience.TotalSeconds * Stopwatch.Frequency);
        while ((qemu.StoppedAt == stoppedBefore || qemu.Status.Power != ProcessPower.Paused) && qemu.Status.IsAlive && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(2), cancellationToken).ConfigureAwait(false);
        }

        var ran = qemu.ResumedAt is { } resumed && qemu.StoppedAt is { } stopped && stopped >= resumed ? (stopped - resumed).TotalMilliseconds : (double?)null;
        LogLeftPostmigrate(qemu.Name, ran);
    }

    /// <summary>After a failed snapshot of a running guest: make sure it runs (QEMU resumes it itself in most cases).</summary>
    private async Task EnsureRunningAsync(QemuVm qemu)
    {
        try
        {
            var status = await qemu.CommandAsync("query-status", null, CancellationToken.None).ConfigureAwait(false);
            if (status.TryGetProperty("running", out var running) && !running.GetBoolean())
            {
                await qemu.ExecuteAsync("cont", ProcessPower.Running, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (HypervisorException ex)
        {
            LogSnapshotCleanupFailed(qemu.Name, "the guest could not be resumed after a failed snapshot", ex.Message);
        }
    }

    private async Task StopAndAwaitExitAsync(QemuVm qemu)
    {
        if (qemu.Status.IsAlive)
        {
            qemu.BeginStop(new StopRequest(Force: true, TimeSpan.Zero));
        }

        try
        {
            await qemu.Exited.WaitAsync(_options.QuitTimeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogSnapshotCleanupFailed(qemu.Name, "the process that could not load the snapshot did not end", $"pid {qemu.Pid}");
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogSnapshotCleanupFailed(Path.GetFileName(path), $"'{path}' could not be deleted", ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: snapshot {Snapshot} taken ({Method}): {Bytes} bytes, {Disks} disks, guest pause {PauseMs} ms, {TotalMs:0} ms in all")]
    private partial void LogSnapshotTaken(string vm, string snapshot, string method, long bytes, int disks, double? pauseMs, double totalMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: paused again after its snapshot (its vCPUs ran {Milliseconds} ms to leave QEMU's postmigrate state)")]
    private partial void LogLeftPostmigrate(string vm, double? milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QEMU refused background-snapshot ({Reason}); the snapshot is a pre-copy (the guest pauses for its last pass)")]
    private partial void LogBackgroundRefused(string vm, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: snapshot {Snapshot} restored into QEMU pid {Pid} (resumed: {Resumed}) in {Milliseconds:0} ms")]
    private partial void LogSnapshotRestored(string vm, string snapshot, int pid, bool resumed, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: snapshot {Snapshot} deleted")]
    private partial void LogSnapshotDeleted(string vm, string snapshot);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: every snapshot deleted ({Directory})")]
    private partial void LogSnapshotsDeleted(string vm, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: {What}: {Error}")]
    private partial void LogSnapshotCleanupFailed(string vm, string what, string error);
}
