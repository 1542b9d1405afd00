using Fabric.Contracts;
using Fabric.Hypervisor;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Host;

/// <summary>
/// The host's side of snapshots (<see cref="IHostSnapshots"/>). A restore is a launch of a new instance whose first
/// step is to stop the old process. Until the old process has ended the ledger entry still names the old instance and
/// the host reports it; the VM, already Starting with the new instance, takes that for another instance's report and
/// waits (<see cref="Vm.VmTransitions.Settle"/>), so the old process's end never marks it Stopped or Failed. Then the new
/// instance is written into the entry (before anything is launched, as for a start), and the reports that follow are
/// about it: Launching, then how it runs or why it failed.
/// </summary>
internal sealed partial class HostGrain : IHostSnapshots
{
    /// <summary>How long the VM's old process may take to end once it is told to quit (then killed) before a restore.</summary>
    private static readonly TimeSpan OldProcessPatience = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan OldProcessPoll = TimeSpan.FromMilliseconds(20);

    async Task<SnapshotTaken> IHostSnapshots.CreateSnapshot(VmAssignment assignment, string snapshot)
    {
        Names.Require("snapshot", snapshot);
        RequireNoMigration(RequireEntry(assignment), "snapshot");
        RequireRunning(assignment, "snapshot");
        var snapshots = RequireSnapshots();
        var vm = assignment.Vm;

        // Streaming the VM's memory to disk takes seconds: off the grain's scheduler.
        var taken = await Driver(() => Task.Run(() => snapshots.CreateSnapshotAsync(vm, snapshot, CancellationToken.None)));
        LogSnapshotTaken(Name, vm, snapshot, taken.Method, taken.File.SizeBytes, taken.GuestPause?.TotalMilliseconds);
        return new SnapshotTaken
        {
            SizeBytes = taken.File.SizeBytes,
            GuestPauseMs = taken.GuestPause is { } pause ? (long)Math.Ceiling(pause.TotalMilliseconds) : null,
            TotalMs = (long)taken.Total.TotalMilliseconds,
            WasRunning = taken.WasRunning,
            Method = taken.Method,
            Observation = Observe(vm),
        };
    }

    async Task<VmObservation> IHostSnapshots.RestoreSnapshot(VmAssignment assignment, string snapshot, bool resume)
    {
        Names.Require("snapshot", snapshot);
        var entry = RequireEntry(assignment);
        var vm = assignment.Vm;
        if (entry.InstanceId == assignment.InstanceId)
        {
            // Accepted before (then restored, failed or lost in a crash): an instance is started at most once.
            return Observe(vm);
        }

        if (_launching.TryGetValue(vm, out var launching))
        {
            return launching == assignment.InstanceId
                ? Observe(vm)
                : throw FabricException.Conflict($"vm '{vm}': a launch of another instance ({launching}) is under way on host '{Name}'");
        }

        RequireNoMigration(entry, "restore");
        var snapshots = RequireSnapshots();
        if (snapshots.FindSnapshot(vm, snapshot) is null)
        {
            throw new FabricException(ErrorCodes.NotFound, $"snapshot '{snapshot}' of vm '{vm}' has no file on host '{Name}'");
        }

        // The old process goes first, and only then is the new instance accepted: until then the host reports the old
        // instance (which the VM, Starting with the new one, waits through), and a crash in between leaves nothing
        // running that the ledger does not name. Marked as launching meanwhile, so that a second request waits its turn.
        _launching[vm] = assignment.InstanceId;
        try
        {
            await StopOldProcessAsync(vm);
            await SaveAsync(RequireEntry(assignment) with { InstanceId = assignment.InstanceId });
            _launchFailures.Remove(vm);
            var spec = await LaunchSpecAsync(entry, assignment.InstanceId) with { Incoming = true };
            await Task.Run(() => snapshots.RestoreSnapshotAsync(spec, snapshot, resume, CancellationToken.None));
        }
        catch (Exception ex)
        {
            // The old process is gone or going, and the new one did not come up: nothing of this instance runs.
            _launchFailures[vm] = (assignment.InstanceId, ex.Message);
            LogRestoreFailed(Name, vm, snapshot, ex.Message);
            throw FabricException.Hypervisor($"vm '{vm}': snapshot '{snapshot}' could not be restored on host '{Name}': {ex.Message}");
        }
        finally
        {
            _launching.Remove(vm);
        }

        if (_entries.GetValueOrDefault(vm)?.Fenced is not null)
        {
            await EnforceFenceAsync(vm);
        }

        LogRestored(Name, vm, snapshot, entry.Epoch, assignment.InstanceId);
        return Observe(vm);
    }

    async Task IHostSnapshots.DeleteSnapshot(string vm, string snapshot)
    {
        Names.Require("name", vm);
        Names.Require("snapshot", snapshot);
        var snapshots = RequireSnapshots();
        // The VM's disks as its ledger entry lists them: with no process running, the driver removes the snapshot
        // from each disk's file itself.
        IReadOnlyList<DiskSpec> disks = _entries.TryGetValue(vm, out var entry) && entry.Fenced is null ? [.. entry.Disks.Select(DiskSpecOf)] : [];
        await Driver(() => Task.Run(() => snapshots.DeleteSnapshotAsync(vm, snapshot, disks, CancellationToken.None)));
    }

    async Task IHostSnapshots.DeleteSnapshots(string vm)
    {
        Names.Require("name", vm);
        if (_driver.Capability<ISnapshots>() is { } snapshots)
        {
            await Driver(() => Task.Run(() => snapshots.DeleteSnapshotsAsync(vm, CancellationToken.None)));
        }
    }

    /// <summary>Stops the VM's process at once (quit, then kill) and waits for its end, which the driver observes.</summary>
    private async Task StopOldProcessAsync(string vm)
    {
        if (!_driver.GetStatus(vm).IsAlive)
        {
            return;
        }

        await _driver.StopAsync(vm, new StopRequest(Force: true, TimeSpan.Zero), CancellationToken.None);
        var until = time.GetUtcNow() + OldProcessPatience;
        while (_driver.GetStatus(vm) is { IsAlive: true } old)
        {
            if (time.GetUtcNow() > until)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"its old process (pid {old.Pid}) did not end within {OldProcessPatience.TotalSeconds:0} s");
            }

            await Task.Delay(OldProcessPoll, time);
        }
    }

    private void RequireNoMigration(Persistence.LedgerEntry entry, string action)
    {
        if ((entry.Outgoing ?? entry.Incoming) is { } migration)
        {
            throw FabricException.Conflict($"vm '{entry.Vm}': migration {migration} holds its placement on host '{Name}'; cannot {action} it");
        }
    }

    private ISnapshots RequireSnapshots() =>
        _driver.Capability<ISnapshots>() ?? throw FabricException.Conflict($"host '{Name}': its {_driver.Kind} driver cannot take snapshots");

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: snapshot {Snapshot} of vm {Vm} taken ({Method}, {Bytes} bytes, guest pause {PauseMs} ms)")]
    private partial void LogSnapshotTaken(string host, string vm, string snapshot, string method, long bytes, double? pauseMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: vm {Vm} restored from snapshot {Snapshot} at epoch {Epoch} as instance {Instance}")]
    private partial void LogRestored(string host, string vm, string snapshot, long epoch, Guid instance);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: restoring vm {Vm} from snapshot {Snapshot} failed: {Error}")]
    private partial void LogRestoreFailed(string host, string vm, string snapshot, string error);
}
