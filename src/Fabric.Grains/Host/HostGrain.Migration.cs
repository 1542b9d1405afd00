using Fabric.Contracts;
using Fabric.Hypervisor;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Host;

/// <summary>
/// The host's side of live migration: slots (persisted as marks on ledger entries, so they survive a restart), the
/// paused incoming process of a migration's target, and the source's stream. The host never decides a switch-over;
/// the migration's coordinator does, through the VM's record and its epoch.
/// </summary>
internal sealed partial class HostGrain
{
    /// <summary>How closely a target is watched while the coordinator waits for its stream to end (QMP on a local socket is cheap).</summary>
    private static readonly TimeSpan IncomingPoll = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxIncomingWait = TimeSpan.FromSeconds(5);

    async Task<bool> IHostGrain.AcquireOutgoing(VmAssignment assignment, string migration)
    {
        var entry = RequireEntry(assignment);
        if (entry.Outgoing == migration)
        {
            return true;
        }

        if (entry.Outgoing is { } other)
        {
            throw FabricException.Conflict($"vm '{assignment.Vm}' is already the source of migration {other} on host '{Name}'");
        }

        if (MigrationCount(incoming: false) >= options.Value.MaxOutgoingMigrations)
        {
            return false;
        }

        RequireRunning(assignment, "migrate");
        await SaveAsync(entry with { Outgoing = migration });
        return true;
    }

    async Task<string> IHostGrain.PrepareIncoming(VmAssignment assignment, MigrationStreamSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var entry = RequireEntry(assignment);
        var vm = assignment.Vm;
        if (entry.Incoming is null)
        {
            throw FabricException.Conflict($"vm '{vm}': its placement on host '{Name}' (epoch {entry.Epoch}) is not a migration's target");
        }

        var migration = RequireMigration();
        var status = _driver.GetStatus(vm);
        if (status.IsAlive || _launching.ContainsKey(vm) || entry.InstanceId != Guid.Empty)
        {
            // A target is prepared once: a listener cannot be reopened on a process that may already hold a half stream.
            throw FabricException.Conflict($"vm '{vm}': the incoming process of epoch {entry.Epoch} on host '{Name}' was already prepared; the migration must start over");
        }

        await SaveAsync(entry with { InstanceId = assignment.InstanceId });
        _launchFailures.Remove(vm);
        _launching[vm] = assignment.InstanceId;
        try
        {
            var spec = await LaunchSpecAsync(entry, assignment.InstanceId) with { Incoming = true };
            await Task.Run(() => _driver.LaunchAsync(spec, CancellationToken.None));
        }
        catch (Exception ex)
        {
            _launchFailures[vm] = (assignment.InstanceId, ex.Message);
            throw ex is HypervisorException hypervisor ? hypervisor.ToFabric() : ex;
        }
        finally
        {
            _launching.Remove(vm);
        }

        if (_entries.GetValueOrDefault(vm)?.Fenced is not null)
        {
            await EnforceFenceAsync(vm);
            throw FabricException.Conflict($"vm '{vm}': its placement on host '{Name}' was superseded while the incoming process started");
        }

        var uri = await Driver(() => migration.ListenAsync(vm, _address, new MigrationFeatures(settings.Postcopy), CancellationToken.None));
        LogIncomingReady(Name, vm, entry.Epoch, uri);
        return uri;
    }

    async Task IHostGrain.SendMigration(VmAssignment assignment, string uri, MigrationStreamSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        RequireRunning(assignment, "migrate");
        var entry = _entries[assignment.Vm];
        if (entry.Outgoing is null)
        {
            throw FabricException.Conflict($"vm '{assignment.Vm}' holds no outgoing migration slot on host '{Name}'");
        }

        var send = new MigrationSettings(
            new MigrationFeatures(settings.Postcopy),
            settings.AutoConverge,
            settings.DowntimeLimitMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
            settings.BandwidthBytesPerSecond);
        await Driver(() => RequireMigration().SendAsync(assignment.Vm, uri, send, CancellationToken.None));
    }

    async Task<MigrationSide> IHostGrain.QueryMigration(string vm, long epoch)
    {
        var status = _driver.GetStatus(vm);
        if (!status.IsAlive || status.Epoch != epoch || _driver.Capability<ILiveMigration>() is not { } migration)
        {
            return new MigrationSide
            {
                Status = "absent",
                RunState = status.Power.ToString().ToLowerInvariant(),
                Epoch = status.Epoch,
                Alive = status.IsAlive,
                ProcessReason = status.Epoch == epoch || !status.IsAlive ? status.Reason : $"the process runs at epoch {status.Epoch}",
            };
        }

        try
        {
            var progress = await migration.QueryAsync(vm, CancellationToken.None);
            return new MigrationSide
            {
                Status = progress.Status,
                RunState = progress.RunState,
                TransferredBytes = progress.TransferredBytes,
                RemainingBytes = progress.RemainingBytes,
                TotalBytes = progress.TotalBytes,
                DirtyBytesPerSecond = progress.DirtyBytesPerSecond,
                BytesPerSecond = progress.BytesPerSecond,
                Passes = progress.Passes,
                ThrottlePercent = progress.ThrottlePercent,
                TlsCredentials = progress.TlsCredentials,
                TotalMs = progress.TotalMs,
                DowntimeMs = progress.DowntimeMs,
                Error = progress.Error,
                StoppedAt = progress.StoppedAt,
                ResumedAt = progress.ResumedAt,
                Epoch = epoch,
                Alive = true,
            };
        }
        catch (HypervisorException ex)
        {
            var now = _driver.GetStatus(vm);
            return new MigrationSide { Status = "absent", RunState = "unknown", Epoch = epoch, Alive = now.IsAlive, ProcessReason = now.IsAlive ? ex.Message : now.Reason };
        }
    }

    async Task<MigrationSide> IHostGrain.AwaitIncoming(string vm, long epoch, TimeSpan wait)
    {
        var until = time.GetUtcNow() + (wait < MaxIncomingWait ? wait : MaxIncomingWait);
        var self = (IHostGrain)this;
        while (true)
        {
            var side = await self.QueryMigration(vm, epoch);
            if (!side.Alive || side.Status is "completed" or "failed" or "cancelled" || time.GetUtcNow() >= until)
            {
                return side;
            }

            await Task.Delay(IncomingPoll, time);
        }
    }

    async Task<MigrationSide> IHostGrain.CancelMigration(VmAssignment assignment, bool resume)
    {
        RequireEntry(assignment);
        var vm = assignment.Vm;
        var migration = RequireMigration();
        if (_driver.GetStatus(vm) is { IsAlive: true } status && status.InstanceId == assignment.InstanceId)
        {
            var progress = await Driver(() => migration.CancelAsync(vm, resume, CancellationToken.None));
            LogSourceAfterCancel(Name, vm, progress.Status, progress.RunState);
        }

        return await ((IHostGrain)this).QueryMigration(vm, assignment.Epoch);
    }

    async Task IHostGrain.StartPostcopy(VmAssignment assignment)
    {
        RequireRunning(assignment, "switch to post-copy");
        await Driver(() => RequireMigration().StartPostcopyAsync(assignment.Vm, CancellationToken.None));
    }

    async Task IHostGrain.EndMigration(string vm, long epoch, string migration)
    {
        if (_entries.TryGetValue(vm, out var entry) && entry.Epoch == epoch && (entry.Outgoing == migration || entry.Incoming == migration))
        {
            await SaveAsync(entry with
            {
                Outgoing = entry.Outgoing == migration ? null : entry.Outgoing,
                Incoming = entry.Incoming == migration ? null : entry.Incoming,
            });
            Changed();
        }
    }

    async Task<string> IHostGrain.DumpGuestMemory(VmAssignment assignment, long address, long length)
    {
        RequireRunning(assignment, "dump the memory of");
        var memory = _driver.Capability<IGuestMemory>() ?? throw FabricException.Conflict($"host '{Name}': its {_driver.Kind} driver cannot read guest memory");
        return await Driver(() => memory.DumpAsync(assignment.Vm, address, length, CancellationToken.None));
    }

    /// <summary>Migrations under way on this host in one direction (fenced placements no longer count).</summary>
    private int MigrationCount(bool incoming) =>
        _entries.Values.Count(e => e.Fenced is null && (incoming ? e.Incoming : e.Outgoing) is not null);

    private ILiveMigration RequireMigration() =>
        _driver.Capability<ILiveMigration>() ?? throw FabricException.Conflict($"host '{Name}': its {_driver.Kind} driver cannot migrate VMs");

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: incoming process of vm {Vm} (epoch {Epoch}) listens at {Uri}")]
    private partial void LogIncomingReady(string host, string vm, long epoch, string uri);

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: outgoing migration of vm {Vm} undone here (migration {Status}, guest {RunState})")]
    private partial void LogSourceAfterCancel(string host, string vm, string status, string runState);
}
