using System.Collections.Immutable;
using Fabric.Contracts;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Vm;

/// <summary>
/// The VM's snapshots (<see cref="IVmSnapshots"/>): recorded on its record, their files on the host where each was
/// taken. A restore is a start: a new instance id, state Starting with a persisted pending request and deadline, and
/// the host's reports settle it (<see cref="VmTransitions.Settle"/>). Until the host has accepted the new instance it
/// reports the old one, its end included, which the VM (Starting with the new instance) waits through: the old
/// process's end is never taken for the VM's.
/// </summary>
internal sealed partial class VmGrain : IVmSnapshots
{
    async Task<SnapshotInfo> IVmSnapshots.CreateSnapshot(string snapshot)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        var name = VmSnapshots.RequireNew(Name, Record.Snapshots, snapshot);
        VmTransitions.Require(Name, Record.State, VmAction.Snapshot);
        RequireHostUp(Record.Host);
        var hostName = Record.Host;
        SnapshotTaken taken;
        try
        {
            taken = await GrainFactory.GetGrain<IHostSnapshots>(hostName).CreateSnapshot(Record.Assignment(Name), name);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, hostName);
        }

        var row = new SnapshotRow
        {
            Name = name,
            Host = hostName,
            CreatedAt = time.GetUtcNow(),
            SizeBytes = taken.SizeBytes,
            GuestPauseMs = taken.GuestPauseMs,
            TotalMs = taken.TotalMs,
            WasRunning = taken.WasRunning,
            MemoryMiB = Record.Spec!.MemoryMiB,
            Method = taken.Method,
        };
        var next = Record.Copy();
        next.Snapshots = VmSnapshots.Add(Record.Snapshots, row);
        try
        {
            await WriteAsync(next);
        }
        catch (FabricException)
        {
            // Not recorded, so not kept: a file no record names would never be restored nor deleted.
            await DeleteSnapshotFileQuietlyAsync(hostName, name);
            throw;
        }

        LogSnapshotCreated(Name, name, hostName, taken.Method, taken.SizeBytes, taken.GuestPauseMs);

        // Stamped after the host's reports of the pause: applied now, it makes them stale, so the pause is not recorded.
        await ApplyAsync(taken.Observation, answersOwnRequest: true);
        return row.ToInfo(Name);
    }

    Task<ImmutableArray<SnapshotInfo>> IVmSnapshots.ListSnapshots()
    {
        RequireExists();
        return Task.FromResult(Record.Snapshots.Select(s => s.ToInfo(Name)).ToImmutableArray());
    }

    async Task<VmInfo> IVmSnapshots.RestoreSnapshot(string snapshot)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        var row = VmSnapshots.Require(Name, Record.Snapshots, snapshot);
        VmTransitions.Require(Name, Record.State, VmAction.Restore);
        VmSnapshots.RequireSameHost(Name, row, Record.Host);
        RequireHostUp(Record.Host);
        if (row.MemoryMiB != Record.Spec!.MemoryMiB)
        {
            throw FabricException.Conflict($"snapshot '{row.Name}' of vm '{Name}' holds {Sizes.FormatMiB(row.MemoryMiB)} of memory; the vm has {Sizes.FormatMiB(Record.Spec.MemoryMiB)} now");
        }

        var next = Record.Copy();
        next.InstanceId = Guid.NewGuid();
        next.Pid = null;
        next.Pending = new PendingRequest
        {
            Action = VmAction.Restore,
            From = Record.State,
            Deadline = time.GetUtcNow() + Reconcile.StartDeadline,
            PreviousInstanceId = Record.InstanceId,
        };
        var before = Record;
        await CommitAsync(next, VmState.Starting, $"restoring snapshot '{row.Name}'");
        LogRestoring(Name, row.Name, Record.Host, Record.InstanceId ?? Guid.Empty, before.InstanceId ?? Guid.Empty);
        var assignment = Record.Assignment(Name);
        return await RequestHostAsync(before, _ => GrainFactory.GetGrain<IHostSnapshots>(assignment.Host).RestoreSnapshot(assignment, row.Name, row.WasRunning));
    }

    async Task IVmSnapshots.DeleteSnapshot(string snapshot)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        var row = VmSnapshots.Require(Name, Record.Snapshots, snapshot);
        VmTransitions.Require(Name, Record.State, VmAction.DeleteSnapshot);
        if (!hosts.IsUp(row.Host))
        {
            throw FabricException.Unavailable($"snapshot '{row.Name}' of vm '{Name}' is on host '{row.Host}', which is Down; it can be deleted once that host returns");
        }

        try
        {
            await GrainFactory.GetGrain<IHostSnapshots>(row.Host).DeleteSnapshot(Name, row.Name);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, row.Host);
        }

        var next = Record.Copy();
        next.Snapshots = VmSnapshots.Remove(Record.Snapshots, row.Name);
        await WriteAsync(next);
        LogSnapshotDeleted(Name, row.Name, row.Host);
    }

    /// <summary>
    /// The VM is being deleted: every host that holds some of its snapshots deletes their folder. A host that is Down
    /// keeps its files (logged); nothing names them any more.
    /// </summary>
    private async Task DeleteSnapshotFilesAsync()
    {
        foreach (var host in Record.Snapshots.Select(s => s.Host).Distinct(StringComparer.Ordinal))
        {
            if (!hosts.IsUp(host))
            {
                LogSnapshotsLeft(Name, host, "the host is Down");
                continue;
            }

            try
            {
                await GrainFactory.GetGrain<IHostSnapshots>(host).DeleteSnapshots(Name);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogSnapshotsLeft(Name, host, ex.Message);
            }
        }
    }

    private async Task DeleteSnapshotFileQuietlyAsync(string host, string snapshot)
    {
        try
        {
            await GrainFactory.GetGrain<IHostSnapshots>(host).DeleteSnapshot(Name, snapshot);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogSnapshotsLeft(Name, host, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: snapshot {Snapshot} taken on host {Host} ({Method}, {Bytes} bytes, guest pause {PauseMs} ms)")]
    private partial void LogSnapshotCreated(string vm, string snapshot, string host, string method, long bytes, long? pauseMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: restoring snapshot {Snapshot} on host {Host} as instance {Instance} (was {Previous})")]
    private partial void LogRestoring(string vm, string snapshot, string host, Guid instance, Guid previous);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: snapshot {Snapshot} deleted on host {Host}")]
    private partial void LogSnapshotDeleted(string vm, string snapshot, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: snapshot files left on host {Host}: {Reason}")]
    private partial void LogSnapshotsLeft(string vm, string host, string reason);
}
