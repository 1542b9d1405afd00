using Fabric.Contracts;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Vm;

/// <summary>
/// The VM's side of a live migration. The VM records the migration (state Migrating, with the epochs of both of its
/// placements) and, at the switch-over, its new host and epoch; its coordinator (<see cref="IMigrationGrain"/>) does
/// the rest. While it is Migrating, reports of either placement only wake the coordinator, and every lifecycle request
/// is refused with <c>conflict</c>.
/// </summary>
internal sealed partial class VmGrain
{
    async Task<MigrationSource> IVmGrain.BeginMigration(string migration)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        if (Record.Migration is { } under)
        {
            return under.Id == migration
                ? Source(under.SourceHost, under.SourceEpoch, under.WasRunning)
                : throw FabricException.Conflict($"vm '{Name}' is already migrating (migration {under.Id}, {under.Phase})");
        }

        VmTransitions.Require(Name, Record.State, VmAction.Migrate);
        RequireHostUp(Record.Host);
        var next = Record.Copy();
        next.Migration = new MigrationRow
        {
            Id = migration,
            Phase = MigrationPhase.Queued,
            SourceHost = Record.Host,
            SourceEpoch = Record.Epoch,
            WasRunning = Record.State == VmState.Running,
        };
        await CommitAsync(next, VmState.Migrating, $"migration {migration} from host '{Record.Host}'");
        return Source(Record.Host, Record.Epoch, next.Migration.WasRunning);
    }

    async Task IVmGrain.UpdateMigration(string migration, MigrationPhase phase, long targetEpoch, string? targetHost)
    {
        await ReloadIfNeededAsync();
        var under = RequireMigration(migration);
        var updated = under with { Phase = phase, TargetEpoch = targetEpoch, TargetHost = targetHost ?? under.TargetHost };
        if (updated == under)
        {
            return;
        }

        var next = Record.Copy();
        next.Migration = updated;
        await WriteAsync(next);
        CompleteWaiters();
    }

    async Task IVmGrain.CommitMigration(string migration, string targetHost, long targetEpoch)
    {
        await ReloadIfNeededAsync();
        var under = RequireMigration(migration);
        if (under.Committed)
        {
            return;
        }

        if (targetEpoch != under.TargetEpoch)
        {
            throw FabricException.Conflict($"vm '{Name}': migration {migration} expects its target at epoch {under.TargetEpoch}, not {targetEpoch}");
        }

        // The switch-over: from here the target's placement is the VM's, and the source's is superseded.
        var next = Record.Copy();
        next.Host = string.Intern(targetHost);
        next.Epoch = targetEpoch;
        next.Pid = null;
        next.LastObserved = HostSequence.None;
        next.Migration = under with { Committed = true, Phase = MigrationPhase.SwitchingOver, TargetHost = targetHost };
        await WriteAsync(next);
        LogMigrationCommitted(Name, under.SourceHost, targetHost, targetEpoch);
        await Task.WhenAll(
            UpdateCatalogAsync(),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmMigrated, At = time.GetUtcNow(), Vm = Name, Host = targetHost, From = under.SourceHost, To = targetHost, Project = Record.Spec!.Project }));
        CompleteWaiters();
    }

    async Task<VmInfo> IVmGrain.EndMigration(string migration, string? reason)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        if (Record.Migration is not { } under || under.Id != migration)
        {
            return Info(full: true); // Ended before: a repeated end changes nothing.
        }

        // Settle from what the VM's host (the target's, once committed) holds now; a host that is Down keeps the
        // last known state, and its next report settles the VM.
        RuntimePower power;
        string? observed = null;
        if (hosts.IsUp(Record.Host))
        {
            VmObservation observation;
            try
            {
                observation = await GrainFactory.GetGrain<IHostGrain>(Record.Host).Observe(Name);
            }
            catch (Exception ex)
            {
                throw HostCalls.ToFabric(ex, Record.Host);
            }

            var current = observation.Epoch == Record.Epoch && observation.InstanceId == Record.InstanceId;
            power = current ? observation.Power : RuntimePower.Absent;
            observed = current ? observation.Reason : $"host '{Record.Host}' holds no process of this instance";
        }
        else
        {
            power = under.WasRunning ? RuntimePower.Running : RuntimePower.Paused;
        }

        var to = VmTransitions.EndOfMigration(power);
        var next = Record.Copy();
        next.Migration = null;
        var why = to == VmState.Failed ? $"{reason ?? "migration ended"}; {observed}" : reason ?? (under.Committed ? $"migrated from host '{under.SourceHost}'" : null);
        await CommitAsync(next, to, why);
        LogMigrationEnded(Name, migration, Record.Host, to, why ?? "");
        return Info(full: true);
    }

    /// <summary>Nudges the coordinator of the migration under way (one-way), so a lost step is taken again.</summary>
    private void WakeMigration()
    {
        if (Record.Migration is { } under)
        {
            GrainFactory.GetGrain<IMigrationGrain>(Name).Wake(under.Id).Ignore();
        }
    }

    private MigrationRow RequireMigration(string migration)
    {
        RequireExists();
        return Record.Migration is { } under && under.Id == migration
            ? under
            : throw FabricException.Conflict($"vm '{Name}' has no migration {migration} under way");
    }

    private MigrationSource Source(string host, long epoch, bool wasRunning) => new()
    {
        Assignment = new VmAssignment(Name, host, epoch, Record.InstanceId ?? Guid.Empty),
        Reservation = Reservation(Record.Spec!, epoch, Record.Disks, Record.Nics),
        Placement = Record.Spec!.ToPlacement(),
        WasRunning = wasRunning,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: switched over from host {From} to host {To} at epoch {Epoch}")]
    private partial void LogMigrationCommitted(string vm, string from, string to, long epoch);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: migration {Migration} ended on host {Host}: {State} {Reason}")]
    private partial void LogMigrationEnded(string vm, string migration, string host, VmState state, string reason);
}
