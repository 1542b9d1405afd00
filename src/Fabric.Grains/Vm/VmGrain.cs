using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Events;
using Fabric.Grains.Hosting;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Grains.Vm;

/// <summary>
/// One VM: the single writer of its record. Requests run one at a time (not reentrant); reads, waits and the console
/// interleave. Every state change is decided by <see cref="VmTransitions"/> and persisted before it is acted on: the
/// record in memory changes only once its new version is written, so a failed write leaves nothing behind and the
/// request fails with <c>unavailable</c>. A request the host may have acted on without answering stays pending (with
/// a persisted deadline) until the host's reports settle it; a timer drives it while the grain lives, and the host's
/// regular digest brings the grain back after any crash.
/// </summary>
internal sealed partial class VmGrain(
    [PersistentState("vm", FabricPersistence.Name)] IPersistentState<VmRecord> state,
    IVmCatalog catalog,
    IEpochSource epochs,
    HostDirectory hosts,
    FleetEventPublisher events,
    IOptions<ReconcileOptions> reconcile,
    TimeProvider time,
    ILogger<VmGrain> logger) : Grain, IVmGrain
{
    /// <summary>The longest a single <see cref="IVmGrain.WaitFor"/> call waits (callers loop for longer waits).</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CatalogRetryInterval = TimeSpan.FromSeconds(5);
    private const int MaxConsoleInput = 4096;

    private List<(VmState[] States, TaskCompletionSource<VmInfo> Done)>? _waiters;
    private IGrainTimer? _catalogRetry;
    private IGrainTimer? _pendingCheck;

    /// <summary>A write failed with an unknown effect on the store: read the record again before the next request.</summary>
    private bool _mustReload;

    private string Name => this.GetPrimaryKeyString();

    private VmRecord Record => state.State;

    private ReconcileOptions Reconcile => reconcile.Value;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Record.Spec is { } stored)
        {
            Record.Spec = Compact(stored);
            Record.Host = string.Intern(Record.Host);
        }

        // A request cut short by a crash: ask the host how it stands as soon as possible.
        SchedulePendingCheck(immediately: true);
        WakeMigration();
        return Task.CompletedTask;
    }

    async Task<VmInfo> IVmGrain.Create(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await ReloadIfNeededAsync();
        if (Record.Exists)
        {
            throw FabricException.Conflict($"vm '{Name}' already exists (it is {Record.State})");
        }

        spec = spec.Validate();
        if (spec.Name != Name)
        {
            throw FabricException.InvalidSpec("name", $"'{spec.Name}' does not match the VM being created ('{Name}')");
        }

        var row = Compact(VmSpecRow.From(spec));
        await ChargeAsync(row);
        PlacementPolicy policy;
        try
        {
            policy = await PlaceAndRecordAsync(spec, row);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The VM does not exist, so its project holds nothing for it.
            await RefundAsync(row.Project);
            throw;
        }

        LogCreated(Name, Record.Host, Record.Epoch, policy);
        await Task.WhenAll(
            UpdateCatalogAsync(),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmPlaced, At = Record.CreatedAt, Vm = Name, Host = Record.Host, To = nameof(VmState.Defined), Project = row.Project }));
        return Info(full: true);
    }

    /// <summary>The create once the project is charged: the disks and NICs, a host, the record. Leaves nothing behind on failure.</summary>
    private async Task<PlacementPolicy> PlaceAndRecordAsync(VmSpec spec, VmSpecRow row)
    {
        var (planned, constraint) = await PlanDisksAsync(spec.Disks);
        var nics = await AllocateNicsAsync(spec.Nics);
        string host;
        long epoch;
        PlacementPolicy policy;
        try
        {
            (host, epoch, policy) = await PlaceAsync(row, planned, nics, constraint);
        }
        catch
        {
            await ReleaseNicsAsync(nics);
            throw;
        }

        var now = time.GetUtcNow();
        ImmutableArray<DiskRow> disks = [];
        try
        {
            disks = await AcquireDisksAsync(spec.Disks, planned, host);
            var next = new VmRecord { Spec = row, State = VmState.Defined, Host = host, Epoch = epoch, CreatedAt = now, Since = now, Disks = disks, Nics = nics };
            await WriteAsync(next);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The VM does not exist unless its record does: give the reservation, the volumes and the addresses back.
            await ReleaseDisksAsync(disks, deleting: true);
            await ReleaseNicsAsync(nics);
            await ReleaseQuietlyAsync(host, epoch);
            throw;
        }

        return policy;
    }

    async Task<VmInfo> IVmGrain.Start()
    {
        await ReloadIfNeededAsync();
        RequireExists();
        VmTransitions.Require(Name, Record.State, VmAction.Start);
        var next = Record.Copy();
        long? placedNow = null;
        if (!Record.Placed)
        {
            // Released from its last host (stopped by force while that host was Down): place it anew.
            (next.Host, next.Epoch, _) = await PlaceAsync(Record.Spec!, Record.Disks, Record.Nics, await DiskConstraintAsync(Record.Disks));
            next.LastObserved = HostSequence.None;
            placedNow = next.Epoch;
        }

        RequireHostUp(next.Host);
        next.InstanceId = Guid.NewGuid();
        next.Pid = null;
        next.Pending = new PendingRequest { Action = VmAction.Start, From = Record.State, Deadline = time.GetUtcNow() + Reconcile.StartDeadline };
        var before = Record;
        try
        {
            await CommitAsync(next, VmState.Starting, placedNow is null ? null : $"placed on host '{next.Host}'");
        }
        catch (FabricException) when (placedNow is { } epoch)
        {
            await ReleaseQuietlyAsync(next.Host, epoch);
            throw;
        }

        return await RequestHostAsync(before, host => host.Launch(Record.Assignment(Name)));
    }

    async Task<VmInfo> IVmGrain.Stop(StopOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        await ReloadIfNeededAsync();
        RequireExists();
        if (options.Force && Record.Placed && !hosts.IsUp(Record.Host) && VmTransitions.DetachableStates.Contains(Record.State))
        {
            return await StopWithoutHostAsync();
        }

        VmTransitions.Require(Name, Record.State, VmAction.Stop);
        RequireHostUp(Record.Host);
        var now = time.GetUtcNow();
        var graceUntil = now + (options.Force ? TimeSpan.Zero : options.GracePeriod);
        if (Record.Pending is { Action: VmAction.Stop } earlier && earlier.GraceUntil < graceUntil)
        {
            graceUntil = earlier.GraceUntil; // A repeated stop never extends the grace an earlier one gave.
        }

        var next = Record.Copy();
        next.Pending = new PendingRequest
        {
            Action = VmAction.Stop,
            From = Record.State,
            GraceUntil = graceUntil,
            Deadline = graceUntil + Reconcile.StopMargin,
        };
        var before = Record;
        await CommitAsync(next, VmState.Stopping, options.Force ? "forced stop requested" : "stop requested");
        return await RequestHostAsync(before, host => host.Stop(Record.Assignment(Name), options));
    }

    Task<VmInfo> IVmGrain.Pause() => OperateAsync(VmAction.Pause, (host, assignment) => host.Pause(assignment));

    Task<VmInfo> IVmGrain.Resume() => OperateAsync(VmAction.Resume, (host, assignment) => host.Resume(assignment));

    Task<VmInfo> IVmGrain.Reboot() => OperateAsync(VmAction.Reboot, (host, assignment) => host.Reset(assignment));

    async Task IVmGrain.Delete(DeleteOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        await ReloadIfNeededAsync();
        RequireExists();
        if (!options.Force || Record.State == VmState.Migrating)
        {
            // Not even by force while migrating: the VM's placements are the migration's until it ends.
            VmTransitions.Require(Name, Record.State, VmAction.Delete);
        }

        if (Record.Placed)
        {
            if (hosts.IsUp(Record.Host))
            {
                var host = GrainFactory.GetGrain<IHostGrain>(Record.Host);
                try
                {
                    await (options.Force ? host.Fence(Name, Record.Epoch, "the vm was deleted by force") : host.Release(Name, Record.Epoch));
                }
                catch (Exception ex)
                {
                    throw HostCalls.ToFabric(ex, Record.Host);
                }
            }
            else if (!options.Force)
            {
                throw FabricException.Unavailable($"vm '{Name}' is on host '{Record.Host}', which is Down; 'vm delete --force' deletes it now, and the host stops its process when it returns");
            }
        }

        await DeleteSnapshotFilesAsync();
        var from = Record.State;
        var project = Record.Spec!.Project;
        var hostName = Record.Host;
        var disks = Record.Disks;
        var nics = Record.Nics;
        try
        {
            await state.ClearStateAsync();
        }
        catch (Exception ex)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"vm '{Name}': its record could not be deleted ({ex.Message}); nothing was changed");
        }

        state.State = new VmRecord();
        StopPendingCheck();

        // Only once the record is gone: a VM that still exists never loses a disk it lists, nor is it uncharged. The
        // refund needs no host, so a VM deleted while its host is Down is refunded too.
        await ReleaseDisksAsync(disks, deleting: true);
        await ReleaseNicsAsync(nics);
        LogDeleted(Name, hostName, options.Force);
        await Task.WhenAll(
            RemoveFromCatalogAsync(),
            RefundAsync(project),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmDeleted, At = time.GetUtcNow(), Vm = Name, Host = hostName, From = from.ToString(), To = nameof(VmState.Deleted), Reason = options.Force ? "deleted by force" : null, Project = project }));
        CompleteWaiters();
        if (!Retrying)
        {
            DeactivateOnIdle();
        }
    }

    Task<VmInfo> IVmGrain.Get()
    {
        RequireExists();
        return Task.FromResult(Info(full: true));
    }

    async Task<VmInfo> IVmGrain.WaitFor(VmState[] states, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(states);
        RequireExists();
        var info = Info(full: true);
        if (states.Contains(info.State) || timeout <= TimeSpan.Zero)
        {
            return info;
        }

        var done = new TaskCompletionSource<VmInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        (_waiters ??= []).Add((states, done));
        try
        {
            return await done.Task.WaitAsync(timeout < MaxWait ? timeout : MaxWait, time);
        }
        catch (TimeoutException)
        {
            RequireExists();
            return Info(full: true);
        }
        finally
        {
            _waiters?.RemoveAll(w => w.Done == done);
        }
    }

    async Task<ConsoleChunk> IVmGrain.ReadConsole(long offset, int maxBytes, TimeSpan wait)
    {
        RequireExists();
        var host = RequireHostUp(Record.Host);
        try
        {
            return await host.ReadConsole(Name, offset, maxBytes, wait < MaxWait ? wait : MaxWait);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }
    }

    async Task IVmGrain.SendConsole(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        RequireExists();
        if (text.Length > MaxConsoleInput)
        {
            throw FabricException.InvalidSpec("text", $"is {text.Length} characters long; the limit is {MaxConsoleInput}");
        }

        if (Record.State is not (VmState.Running or VmState.Paused))
        {
            throw FabricException.Conflict($"vm '{Name}' is {Record.State}; its console takes input only while it runs");
        }

        var host = RequireHostUp(Record.Host);
        try
        {
            await host.SendConsole(Record.Assignment(Name), text);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }
    }

    async Task IVmGrain.Observe(VmObservation observation)
    {
        ArgumentNullException.ThrowIfNull(observation);
        await ReloadIfNeededAsync();
        await ApplyAsync(observation, answersOwnRequest: false);
        if (!Record.Exists && !Retrying)
        {
            DeactivateOnIdle();
        }
    }

    async Task IVmGrain.Audit()
    {
        await ReloadIfNeededAsync();
        if (Record.Exists)
        {
            await UpdateCatalogAsync();
            await RestoreLostReservationAsync();
            return;
        }

        await RemoveFromCatalogAsync();
        if (!Retrying)
        {
            DeactivateOnIdle();
        }
    }

    /// <summary>
    /// The converse of an orphan reservation: the record places the VM on a live host that holds nothing for it (its
    /// ledger entry was lost). The host never reports on what it does not hold, so ask it, and reserve again at the
    /// same epoch; its next report then settles the record (a process that should run and does not: Failed). A
    /// process of the VM still running there is unmanaged, and the host refuses the reservation, naming it.
    /// </summary>
    private async Task RestoreLostReservationAsync()
    {
        if (!Record.Placed || !hosts.IsUp(Record.Host))
        {
            return;
        }

        var host = GrainFactory.GetGrain<IHostGrain>(Record.Host);
        try
        {
            var held = await host.Observe(Name);
            if (held.Epoch != 0 || held.Power != RuntimePower.Absent)
            {
                return;
            }

            await host.Reserve(Reservation(Record.Spec!, Record.Epoch, Record.Disks, Record.Nics));
            LogReservationRestored(Name, Record.Host, Record.Epoch);
            await ApplyAsync(await host.Observe(Name), answersOwnRequest: false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRestoreFailed(Name, Record.Host, ex.Message);
        }
    }

    /// <summary>Pause, resume, reboot: one host call that sets no state before it; the host's answer settles the record.</summary>
    private async Task<VmInfo> OperateAsync(VmAction action, Func<IHostGrain, VmAssignment, Task<VmObservation>> call)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        VmTransitions.Require(Name, Record.State, action);
        var host = RequireHostUp(Record.Host);
        VmObservation observation;
        try
        {
            observation = await call(host, Record.Assignment(Name));
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }

        if (VmTransitions.TargetOf(action) is { } target)
        {
            await CommitAsync(Record.Copy(), target, "rebooted");
        }

        await ApplyAsync(observation, answersOwnRequest: true);
        return Info(full: true);
    }

    /// <summary>
    /// Asks the host to act on the request the record now holds as pending, and settles it from the answer: refused,
    /// the record returns to what it was <paramref name="before"/> the request (its state, and any request that was
    /// pending then); failed, it is Failed; unknown, it stays pending and the host's reports settle it.
    /// </summary>
    private async Task<VmInfo> RequestHostAsync(VmRecord before, Func<IHostGrain, Task<VmObservation>> call)
    {
        var pending = Record.Pending!;
        var hostName = Record.Host;
        var host = GrainFactory.GetGrain<IHostGrain>(hostName);
        VmObservation observation;
        try
        {
            observation = await call(host);
        }
        catch (Exception ex)
        {
            var error = HostCalls.ToFabric(ex, hostName);
            switch (HostCalls.Classify(ex))
            {
                case HostCallOutcome.Refused:
                    var back = before.Copy();
                    back.History = [.. Record.History];
                    await CommitAsync(back, before.State, error.Message);
                    break;
                case HostCallOutcome.Failed:
                    await CommitAsync(Record.Copy(), VmState.Failed, error.Message);
                    break;
                default:
                    LogOutcomeUnknown(Name, pending.Action, hostName, error.Message);
                    await CheckPendingAsync(CancellationToken.None);
                    if (Record.Pending is not null)
                    {
                        throw FabricException.Unavailable($"{error.Message}; vm '{Name}' stays {Record.State} until host '{hostName}' reports how the {pending.Action.ToString().ToLowerInvariant()} ended");
                    }

                    return Info(full: true);
            }

            throw error;
        }

        await ApplyAsync(observation, answersOwnRequest: true);
        return Info(full: true);
    }

    /// <summary>A forced stop while the VM's host is Down: the VM is Stopped and released from that host now (epoch bumped).</summary>
    private async Task<VmInfo> StopWithoutHostAsync()
    {
        var released = Record.Host;
        var next = Record.Copy();
        next.Epoch = await epochs.NextAsync();
        next.Host = "";
        next.InstanceId = null;
        next.Pid = null;
        next.LastObserved = HostSequence.None;
        await CommitAsync(next, VmState.Stopped, $"stopped by force while host '{released}' was Down: released from it, and its process there is stopped when the host returns");
        LogReleasedFromDownHost(Name, released, next.Epoch);
        return Info(full: true);
    }

    /// <summary>
    /// Applies a host's report: a report of a superseded placement (another host or epoch, or a VM that no longer
    /// exists) makes that host fence it; a report no newer than the last applied is stale; anything else settles the
    /// record through <see cref="VmTransitions.Settle"/> and corrects what runs where it is not what the VM wants.
    /// </summary>
    private async Task ApplyAsync(VmObservation observation, bool answersOwnRequest)
    {
        if (Record.Migration is { } migration && migration.Owns(observation.Epoch))
        {
            // Either side of a migration under way: its coordinator decides; tell it something moved.
            WakeMigration();
            return;
        }

        if (!Record.Exists || observation.Host != Record.Host || observation.Epoch != Record.Epoch)
        {
            await FenceAsync(observation);
            return;
        }

        if (observation.Sequence <= Record.LastObserved)
        {
            return;
        }

        var match = Record.InstanceId is { } instance && observation.InstanceId == instance ? InstanceMatch.Current : InstanceMatch.Other;
        var now = time.GetUtcNow();
        var settlement = VmTransitions.Settle(Record.State, match, observation.Power, Record.Pending is { } pending && now >= pending.Deadline);
        if (settlement.Revert)
        {
            // A restore the host never received leaves the old instance where it was: the record returns to it too.
            var back = Observed(observation);
            back.InstanceId = Record.Pending is { Action: VmAction.Restore } restore ? restore.PreviousInstanceId : back.InstanceId;
            await CommitAsync(back, Record.Pending!.From, $"the {Record.Pending.Action.ToString().ToLowerInvariant()} never reached host '{Record.Host}'");
        }
        else if (settlement.To is { } to && to != Record.State)
        {
            var next = Observed(observation);
            next.Pid = to is VmState.Running or VmState.Paused && match == InstanceMatch.Current ? observation.Pid : null;
            await CommitAsync(next, to, observation.Reason);
        }
        else if (match == InstanceMatch.Current && Record.State is VmState.Running or VmState.Paused && observation.Pid is { } pid && Record.Pid != pid)
        {
            var next = Observed(observation);
            next.Pid = pid;
            await WriteAsync(next);
        }
        else
        {
            // Nothing to record (the common case of the digest): the cursor moves on in memory, without a copy or a
            // write; a report it passes over after a restart changes nothing either.
            Record.LastObserved = observation.Sequence;
        }

        await CorrectAsync(settlement.Correction, observation, answersOwnRequest);
    }

    private VmRecord Observed(VmObservation observation)
    {
        var next = Record.Copy();
        next.LastObserved = observation.Sequence;
        return next;
    }

    private async Task CorrectAsync(Correction correction, VmObservation observation, bool answersOwnRequest)
    {
        if (correction == Correction.None || (answersOwnRequest && correction == Correction.RedriveStop))
        {
            return;
        }

        var host = GrainFactory.GetGrain<IHostGrain>(observation.Host);
        var remaining = Record.Pending is { } pending ? pending.GraceUntil - time.GetUtcNow() : TimeSpan.Zero;
        var (instance, options) = correction == Correction.RedriveStop
            ? (Record.InstanceId ?? Guid.Empty, remaining > TimeSpan.Zero ? new StopOptions { GracePeriod = remaining } : new StopOptions { Force = true })
            : (observation.InstanceId, new StopOptions { Force = true });
        LogCorrection(Name, correction, observation.Host, instance, observation.Power);
        try
        {
            await host.Stop(new VmAssignment(Name, observation.Host, observation.Epoch, instance), options);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogCorrectionFailed(Name, correction, observation.Host, ex.Message);
        }
    }

    /// <summary>Tells a host that reported a placement this VM no longer has to stop its process and let the placement go.</summary>
    private async Task FenceAsync(VmObservation observation)
    {
        if (observation.Epoch == 0)
        {
            return;
        }

        var reason = !Record.Exists
            ? "the vm does not exist"
            : Record.Placed
                ? $"the vm is placed on host '{Record.Host}' at epoch {Record.Epoch}"
                : $"the vm was released from host '{observation.Host}' (epoch {Record.Epoch})";
        LogFencing(Name, observation.Host, observation.Epoch, reason);
        try
        {
            await GrainFactory.GetGrain<IHostGrain>(observation.Host).Fence(Name, observation.Epoch, reason);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogCorrectionFailed(Name, Correction.StopHostInstance, observation.Host, ex.Message);
        }
    }

    /// <summary>While a request is pending: ask the host how it stands (the timer, and after an unknown outcome).</summary>
    private async Task CheckPendingAsync(CancellationToken cancellationToken)
    {
        if (Record.Pending is null || !Record.Placed || !hosts.IsUp(Record.Host))
        {
            return;
        }

        try
        {
            await ReloadIfNeededAsync();
            await ApplyAsync(await GrainFactory.GetGrain<IHostGrain>(Record.Host).Observe(Name), answersOwnRequest: false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPendingCheckFailed(Name, Record.Host, ex.Message);
        }
    }

    private void SchedulePendingCheck(bool immediately)
    {
        if (Record.Pending is null)
        {
            StopPendingCheck();
            return;
        }

        // Interleave = false: the check runs as a turn of its own, never inside a request. KeepAlive: a VM with a
        // request under way is not deactivated while it waits.
        _pendingCheck ??= this.RegisterGrainTimer(
            CheckPendingAsync,
            new GrainTimerCreationOptions(immediately ? TimeSpan.Zero : Reconcile.PendingCheckInterval, Reconcile.PendingCheckInterval) { Interleave = false, KeepAlive = true });
    }

    private void StopPendingCheck()
    {
        _pendingCheck?.Dispose();
        _pendingCheck = null;
    }

    private async Task<(string Host, long Epoch, PlacementPolicy Policy)> PlaceAsync(VmSpecRow spec, ImmutableArray<DiskRow> disks, ImmutableArray<NicRow> nics, HostConstraint? constraint)
    {
        var epoch = await epochs.NextAsync();
        var request = new PlacementRequest { Reservation = Reservation(spec, epoch, disks, nics), Placement = spec.ToPlacement(), AllowedHosts = constraint };
        var decision = await GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).Place(request);
        return (string.Intern(decision.Host), epoch, decision.Policy);
    }

    private VmReservation Reservation(VmSpecRow spec, long epoch, ImmutableArray<DiskRow> disks, ImmutableArray<NicRow> nics) => new()
    {
        Disks = [.. disks.Select(d => d.Placement)],
        Nics = [.. nics.Select(n => n.Placement)],
        Vm = Name,
        Epoch = epoch,
        Resources = new Resources(spec.VCpus, spec.MemoryMiB),
        Image = spec.Image,
        AntiAffinityGroup = spec.Placement?.AntiAffinityGroup,
        AffinityGroup = spec.Placement?.AffinityGroup,
    };

    private async Task ReleaseQuietlyAsync(string host, long epoch)
    {
        try
        {
            await GrainFactory.GetGrain<IHostGrain>(host).Release(Name, epoch);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The host's digest finds the orphan reservation and this grain, with no record of it, has it fenced.
            LogReleaseFailed(Name, host, ex.Message);
        }
    }

    private async Task ReloadIfNeededAsync()
    {
        if (!_mustReload)
        {
            return;
        }

        try
        {
            await state.ReadStateAsync();
            _mustReload = false;
        }
        catch (Exception ex)
        {
            throw FabricException.Unavailable($"vm '{Name}': its record cannot be read ({ex.Message})");
        }
    }

    /// <summary>Records a transition: history, persistence (before anything else), catalog, event, waiters, pending check.</summary>
    private async Task CommitAsync(VmRecord next, VmState to, string? reason)
    {
        var from = Record.State;
        if (!VmTransitions.CanTransition(from, to))
        {
            throw FabricException.Conflict($"vm '{Name}' is {from}; it cannot become {to}");
        }

        var now = time.GetUtcNow();
        next.State = to;
        next.Reason = reason;
        next.Since = now;
        if (to is not (VmState.Starting or VmState.Stopping))
        {
            next.Pending = null;
        }

        next.History.Add(new VmHistoryRow(now, from, to, reason));
        if (next.History.Count > VmRecord.MaxHistory)
        {
            next.History.RemoveRange(0, next.History.Count - VmRecord.MaxHistory);
        }

        await WriteAsync(next);
        LogTransition(Name, from, to, reason ?? "");
        SchedulePendingCheck(immediately: false);
        await Task.WhenAll(
            UpdateCatalogAsync(),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = now, Vm = Name, Host = Record.Host, From = from.ToString(), To = to.ToString(), Reason = reason, Project = next.Spec?.Project }));
        CompleteWaiters();
    }

    /// <summary>
    /// Writes <paramref name="next"/> and only then makes it the record. A write that fails leaves the record as it
    /// was (and, since the store may or may not have taken it, it is read again before the next request).
    /// </summary>
    private async Task WriteAsync(VmRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            _mustReload = true;
            LogWriteFailed(Name, failure.Message);
            throw FabricException.Unavailable($"vm '{Name}': its record could not be written ({failure.Message}); nothing was changed");
        }
    }

    /// <summary>
    /// Keeps the VM's row in the catalog current. The record is the truth and the catalog an index: a failed update
    /// does not fail the request; it is retried until it lands (and the auditor repairs what a crash leaves behind).
    /// </summary>
    private async Task UpdateCatalogAsync()
    {
        try
        {
            await catalog.UpsertAsync(Info(full: false));
            StopCatalogRetry();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogCatalogFailed(Name, ex.Message);
            _catalogRetry ??= this.RegisterGrainTimer(RetryCatalogAsync, new GrainTimerCreationOptions(CatalogRetryInterval, CatalogRetryInterval) { KeepAlive = true });
        }
    }

    private async Task RemoveFromCatalogAsync()
    {
        try
        {
            await catalog.RemoveAsync(Name);
            StopCatalogRetry();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogCatalogFailed(Name, ex.Message);
            _catalogRetry ??= this.RegisterGrainTimer(RetryCatalogAsync, new GrainTimerCreationOptions(CatalogRetryInterval, CatalogRetryInterval) { KeepAlive = true });
        }
    }

    private Task RetryCatalogAsync(CancellationToken cancellationToken) =>
        Record.Exists ? UpdateCatalogAsync() : RemoveFromCatalogAsync();

    private void StopCatalogRetry()
    {
        _catalogRetry?.Dispose();
        _catalogRetry = null;
    }

    private void CompleteWaiters()
    {
        if (_waiters is null)
        {
            return;
        }

        var info = Record.Exists ? Info(full: true) : null;
        foreach (var (states, done) in _waiters)
        {
            if (info is null)
            {
                done.TrySetException(FabricException.NotFound("vm", Name));
            }
            else if (states.Contains(info.State))
            {
                done.TrySetResult(info);
            }
        }
    }

    private void RequireExists()
    {
        if (!Record.Exists)
        {
            throw FabricException.NotFound("vm", Name);
        }
    }

    private IHostGrain RequireHostUp(string host)
    {
        if (host.Length == 0)
        {
            throw FabricException.Conflict($"vm '{Name}' is placed on no host (it was released from a host that was Down); start it to place it");
        }

        return hosts.IsUp(host)
            ? GrainFactory.GetGrain<IHostGrain>(host)
            : throw FabricException.Unavailable($"vm '{Name}' is on host '{host}', which is Down; the VM is unreachable until its host returns");
    }

    /// <summary>What a pending request waits for, when it waits on more than the host's answer.</summary>
    private string? Waiting()
    {
        if (Record.Pending is not { } pending)
        {
            return null;
        }

        var verb = pending.Action.ToString().ToLowerInvariant();
        if (!hosts.IsUp(Record.Host))
        {
            return $"host '{Record.Host}' is Down: the {verb} finishes when it returns ('vm stop --force' or 'vm delete --force' move on without it)";
        }

        return time.GetUtcNow() >= pending.Deadline ? $"host '{Record.Host}' has not yet reported how the {verb} ended" : null;
    }

    /// <summary>
    /// A fleet holds many VMs of few images and projects, mostly without placement constraints: records share one copy
    /// of each image and project name rather than hold deserialized copies (those names are validated, and few).
    /// </summary>
    private static VmSpecRow Compact(VmSpecRow spec) => spec with { Image = string.Intern(spec.Image), Project = string.Intern(spec.Project) };

    /// <summary>
    /// The VM as callers see it (<paramref name="full"/>: with its history, what it waits for and whether its host is up
    /// now), or as the catalog keeps it (no history; reachability is decided when the catalog is read).
    /// </summary>
    private VmInfo Info(bool full)
    {
        var spec = Record.Spec ?? throw FabricException.NotFound("vm", Name);
        return new VmInfo
        {
            Name = Name,
            State = Record.State,
            Host = Record.Host,
            Epoch = Record.Epoch,
            VCpus = spec.VCpus,
            MemoryMiB = spec.MemoryMiB,
            Image = spec.Image,
            Labels = spec.Labels,
            Placement = spec.ToPlacement(),
            Reason = Record.Reason,
            Since = Record.Since,
            CreatedAt = Record.CreatedAt,
            Pid = Record.Pid,
            InstanceId = Record.InstanceId,
            Reachable = !full || !Record.Placed || hosts.IsUp(Record.Host),
            History = full ? [.. Record.History.Select(h => h.ToEntry())] : [],
            Waiting = full ? Waiting() : null,
            Migration = Record.Migration?.Phase,
            Disks = [.. Record.Disks.Select(d => d.ToDisk())],
            Nics = [.. Record.Nics.Select(n => n.Placement.ToNic())],
            Project = spec.Project,
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: volume {Pool}/{Volume} could not be given back to its pool for now: {Error}")]
    private partial void LogVolumeReleaseFailed(string vm, string pool, string volume, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} created on host {Host} at epoch {Epoch} ({Policy})")]
    private partial void LogCreated(string vm, string host, long epoch, PlacementPolicy policy);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: {From} -> {To} {Reason}")]
    private partial void LogTransition(string vm, VmState from, VmState to, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} deleted from host {Host} (forced: {Forced})")]
    private partial void LogDeleted(string vm, string host, bool forced);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: stopped by force while host {Host} was Down; released from it at epoch {Epoch}")]
    private partial void LogReleasedFromDownHost(string vm, string host, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: catalog not updated ({Error}); retrying")]
    private partial void LogCatalogFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: record not written: {Error}")]
    private partial void LogWriteFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "VM {Vm}: its reservation on host {Host} could not be given back after a failed request: {Error}")]
    private partial void LogReleaseFailed(string vm, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: the outcome of {Action} on host {Host} is unknown ({Error}); it stays pending until the host reports")]
    private partial void LogOutcomeUnknown(string vm, VmAction action, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: could not ask host {Host} how a pending request stands: {Error}")]
    private partial void LogPendingCheckFailed(string vm, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: {Correction} on host {Host} (instance {Instance}, reported {Power})")]
    private partial void LogCorrection(string vm, Correction correction, string host, Guid instance, RuntimePower power);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: {Correction} on host {Host} failed: {Error}")]
    private partial void LogCorrectionFailed(string vm, Correction correction, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: host {Host} held no reservation for it; reserved again at epoch {Epoch}")]
    private partial void LogReservationRestored(string vm, string host, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: could not check or restore its reservation on host {Host}: {Error}")]
    private partial void LogRestoreFailed(string vm, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: host {Host} holds a superseded placement (epoch {Epoch}): {Reason}; fencing it")]
    private partial void LogFencing(string vm, string host, long epoch, string reason);
}
