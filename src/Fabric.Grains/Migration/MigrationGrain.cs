using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Hosting;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Grains.Migration;

/// <summary>
/// Coordinates the live migration of one VM as a persisted state machine (docs/migration.md). Each step looks at
/// the two sides and advances only when what it observes allows; every phase has a deadline, and a migration that has
/// not committed is undone (<see cref="MigrationRecord.Abort"/>) step by step: the source's stream cancelled and its
/// guest resumed, the target fenced, the slots given back, the VM told. The switch-over commits in the VM's record
/// (host and epoch) before the guest may run on the target, so it never runs in two places; the epoch tells every
/// host which side is the VM's.
/// </summary>
internal sealed partial class MigrationGrain(
    [PersistentState("migration", FabricPersistence.Name)] IPersistentState<MigrationRecord> state,
    IEpochSource epochs,
    HostDirectory hosts,
    IOptions<MigrationOptions> options,
    TimeProvider time,
    ILogger<MigrationGrain> logger) : Grain, IMigrationGrain
{
    /// <summary>The longest one WaitForChange waits (below its response timeout of 10 s).</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    /// <summary>How long one step of the transfer watches the target for the stream's end (the watchdog runs between).</summary>
    private static readonly TimeSpan TargetWatch = TimeSpan.FromSeconds(1);

    /// <summary>How often the source is looked at while its mirrored disks' switch-over nears (its guest stops there).</summary>
    private static readonly TimeSpan SourceWatchInterval = TimeSpan.FromMilliseconds(10);

    private readonly List<(long Version, TaskCompletionSource<MigrationInfo> Done)> _waiters = [];
    private IGrainTimer? _steps;
    private long _version;

    /// <summary>A write failed with an unknown effect on the store: read the record again before the next step.</summary>
    private bool _mustReload;

    /// <summary>The watchdog: the least remaining data seen in this activation, and when it last dropped.</summary>
    private long _leastRemaining = long.MaxValue;
    private DateTimeOffset _progressAt;

    /// <summary>The most disk bytes the mirrors had copied (the mirror's progress watchdog).</summary>
    private long _mostCopied = -1;

    /// <summary>Since when each side has been unreachable (its silo Down), in this activation.</summary>
    private readonly Dictionary<string, DateTimeOffset> _unreachableSince = new(StringComparer.Ordinal);

    private string Vm => this.GetPrimaryKeyString();

    private MigrationRecord Record => state.State;

    private MigrationOptions Options => options.Value;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _progressAt = time.GetUtcNow();
        ScheduleSteps();
        return Task.CompletedTask;
    }

    async Task<MigrationInfo> IMigrationGrain.Start(MigrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request = request.Validate();
        await ReloadIfNeededAsync();
        if (Record.IsActive)
        {
            throw FabricException.Conflict($"vm '{Vm}' is already migrating (migration {Record.Id}, {Record.Phase})");
        }

        // Requests that cannot work are refused before anything changes.
        var vm = await TheVm().Get();
        if (request.TargetHost is { } to)
        {
            if (to == vm.Host)
            {
                throw FabricException.Conflict($"to: vm '{Vm}' already runs on host '{to}'");
            }

            if (await GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).GetHost(to) is null)
            {
                throw FabricException.InvalidSpec("to", $"host '{to}' is not in the fabric");
            }
        }

        var now = time.GetUtcNow();
        var next = new MigrationRecord
        {
            Id = Guid.NewGuid().ToString("N")[..12],
            Phase = MigrationPhase.Queued,
            Request = request,
            StartedAt = now,
            PhaseSince = now,
        };

        // Written before the VM hears of it: a VM that is Migrating always has a coordinator that knows why.
        await WriteAsync(next);
        MigrationSource source;
        try
        {
            source = await GrainFactory.GetGrain<IVmGrain>(Vm).BeginMigration(Record.Id);
        }
        catch (FabricException ex)
        {
            var failed = Record.Copy();
            failed.Phase = MigrationPhase.Failed;
            failed.Reason = ex.Message;
            failed.EndedAt = time.GetUtcNow();
            await WriteAsync(failed);
            throw;
        }

        var started = Record.Copy();
        started.Source = source;
        await WriteAsync(started);
        LogStarted(Vm, Record.Id, source.Assignment.Host, request.TargetHost ?? "(scheduler)");
        ScheduleSteps();
        await StepAsync();
        return Info();
    }

    async Task<MigrationInfo> IMigrationGrain.Cancel()
    {
        await ReloadIfNeededAsync();
        if (!Record.IsActive)
        {
            throw FabricException.Conflict($"vm '{Vm}' has no migration under way");
        }

        if (Record.Committed)
        {
            throw FabricException.Conflict($"vm '{Vm}': migration {Record.Id} has switched over to host '{Record.TargetHost}'; it can no longer be cancelled");
        }

        if (Record.Abort is null)
        {
            await BeginAbortAsync(MigrationPhase.Cancelled, $"cancelled by request in phase {Record.Phase}");
        }

        await StepAsync();
        return Info();
    }

    Task<MigrationInfo> IMigrationGrain.Get() =>
        Record.Id.Length == 0 ? throw FabricException.NotFound("migration of vm", Vm) : Task.FromResult(Info());

    async Task<MigrationInfo> IMigrationGrain.WaitForChange(long version, TimeSpan timeout)
    {
        if (Record.Id.Length == 0)
        {
            throw FabricException.NotFound("migration of vm", Vm);
        }

        if (_version != version || !Record.IsActive || timeout <= TimeSpan.Zero)
        {
            return Info();
        }

        var done = new TaskCompletionSource<MigrationInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((version, done));
        try
        {
            return await done.Task.WaitAsync(timeout < MaxWait ? timeout : MaxWait, time);
        }
        catch (TimeoutException)
        {
            return Info();
        }
        finally
        {
            _waiters.RemoveAll(w => w.Done == done);
        }
    }

    async Task IMigrationGrain.SlotHeld(string host, long epoch, string migration)
    {
        await ReloadIfNeededAsync();
        if (Record.IsActive && Record.Id == migration)
        {
            return;
        }

        // Its migration ended while that host was away (its silo Down): the slot was never given back.
        await GrainFactory.GetGrain<IHostGrain>(host).EndMigration(Vm, epoch, migration);
        LogSlotReleased(Vm, migration, host);
    }

    async Task IMigrationGrain.Wake(string migration)
    {
        await ReloadIfNeededAsync();
        if (Record.IsActive && Record.Id == migration)
        {
            ScheduleSteps();
            return;
        }

        // The VM waits on a migration this coordinator does not run: nothing else would ever end it.
        LogOrphanEnded(Vm, migration, Record.Id.Length == 0 ? "none" : $"{Record.Id} ({Record.Phase})");
        await TheVm().EndMigration(migration, $"migration {migration} has no coordinator (its record was lost or it ended first)");
    }

    private void ScheduleSteps()
    {
        if (!Record.IsActive)
        {
            _steps?.Dispose();
            _steps = null;
            return;
        }

        // Interleave = false: a step is a turn of its own. KeepAlive: the coordinator lives while its migration does.
        _steps ??= this.RegisterGrainTimer(
            _ => StepAsync(),
            new GrainTimerCreationOptions(TimeSpan.Zero, Options.StepInterval) { Interleave = false, KeepAlive = true });
    }

    /// <summary>One step: look, then advance (or undo) as far as what was seen allows.</summary>
    private async Task StepAsync()
    {
        try
        {
            await ReloadIfNeededAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogStepFailed(Vm, Record.Id, Record.Phase, $"its record cannot be read: {ex.Message}");
            return;
        }

        if (!Record.IsActive || Record.Source is null)
        {
            if (Record.IsActive)
            {
                // Started, but whether the VM accepted is unknown (the answer was lost, or the coordinator died): end it on
                // the VM too (harmless if it never heard of it); nothing was reserved or launched yet.
                await TheVm().EndMigration(Record.Id, "the migration was interrupted as it began");
                await FinishAsync(MigrationPhase.Failed, "the migration was interrupted as it began");
            }

            ScheduleSteps();
            return;
        }

        try
        {
            if (Record.Abort is { } abort)
            {
                await UndoAsync(abort);
            }
            else
            {
                await AdvanceAsync();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Every step is taken again on the next tick; deadlines bound how long that may go on.
            LogStepFailed(Vm, Record.Id, Record.Phase, ex.Message);
            Note(ex.Message);
        }

        ScheduleSteps();
    }

    private async Task AdvanceAsync()
    {
        var source = Record.Source!;
        var now = time.GetUtcNow();
        if (Record.Phase < MigrationPhase.Transferring && !await ReachableAsync(source.Assignment.Host))
        {
            return; // Nothing was sent yet: a source Down for too long ends the migration (ReachableAsync undoes it).
        }

        switch (Record.Phase)
        {
            case MigrationPhase.Queued:
                if (Held(MigrationPhase.Queued))
                {
                    return;
                }

                if (!await SourceHost().AcquireOutgoing(source.Assignment, Record.Id))
                {
                    await WaitOrFailAsync(Options.QueueTimeout, $"waiting for an outgoing migration slot on host '{source.Assignment.Host}'");
                    return;
                }

                await EnterAsync(MigrationPhase.Scheduling);
                goto case MigrationPhase.Scheduling;

            case MigrationPhase.Scheduling:
                if (Held(MigrationPhase.Scheduling))
                {
                    return;
                }

                if (Record.TargetEpoch == 0)
                {
                    var drawn = Record.Copy();
                    drawn.TargetEpoch = await epochs.NextAsync();
                    await WriteAsync(drawn);
                }

                // The VM learns the target's epoch before anything is reserved under it, so the target's reports are
                // expected, not fenced.
                await TheVm().UpdateMigration(Record.Id, MigrationPhase.Scheduling, Record.TargetEpoch, null);
                if (!await ReserveTargetAsync())
                {
                    return;
                }

                await EnterAsync(MigrationPhase.PreparingTarget);
                goto case MigrationPhase.PreparingTarget;

            case MigrationPhase.PreparingTarget:
                if (Held(MigrationPhase.PreparingTarget))
                {
                    return;
                }

                if (Record.Uri is null)
                {
                    if (now - Record.PhaseSince > Options.PrepareTimeout)
                    {
                        await BeginAbortAsync(MigrationPhase.Failed, $"the target's incoming QEMU on host '{Record.TargetHost}' was not ready within {Options.PrepareTimeout.TotalSeconds:0} s");
                        return;
                    }

                    string uri;
                    try
                    {
                        // A local-pool disk needs a file on the target first: an empty one of its size, counted in its pool.
                        foreach (var disk in LocalDisks())
                        {
                            await Pool(disk).PrepareCopy(disk.Volume, Vm, Record.TargetHost!, Record.Id);
                        }

                        uri = await TargetHost().PrepareIncoming(TargetAssignment(), Settings());
                    }
                    catch (FabricException ex) when (ex.Code != ErrorCodes.Unavailable)
                    {
                        await BeginAbortAsync(MigrationPhase.Failed, $"the target host '{Record.TargetHost}' could not start the incoming VM: {ex.Message}");
                        return;
                    }

                    var prepared = Record.Copy();
                    prepared.Uri = uri;
                    await WriteAsync(prepared);
                }

                if (Record.DiskEndpoint is null && !LocalDisks().IsEmpty)
                {
                    var exported = Record.Copy();
                    exported.DiskEndpoint = await TargetStorage().ExportDisks(TargetAssignment(), [.. LocalDisks().Select(d => d.Slot)]);
                    await WriteAsync(exported);
                }

                await EnterAsync(MigrationPhase.TargetReady);
                goto case MigrationPhase.TargetReady;

            case MigrationPhase.TargetReady:
                if (Held(MigrationPhase.TargetReady))
                {
                    return;
                }

                if (!LocalDisks().IsEmpty)
                {
                    if (!Record.MirrorStarted)
                    {
                        await SourceStorage().StartMirror(source.Assignment, Record.DiskEndpoint!, [.. LocalDisks().Select(d => d.Slot)], Record.Request.BandwidthBytesPerSecond);
                        var mirroring = Record.Copy();
                        mirroring.MirrorStarted = true;
                        await WriteAsync(mirroring);
                    }

                    _mostCopied = -1;
                    _progressAt = now;
                    await EnterAsync(MigrationPhase.MirroringDisks);
                    return;
                }

                await SendMemoryAsync();
                return;

            case MigrationPhase.MirroringDisks:
                if (Held(MigrationPhase.MirroringDisks))
                {
                    return;
                }

                await MirrorAsync();
                return;

            case MigrationPhase.Transferring:
                if (Held(MigrationPhase.Transferring))
                {
                    return;
                }

                await TransferAsync();
                return;

            case MigrationPhase.SwitchingOver:
                await SwitchOverAsync();
                return;
        }
    }

    /// <summary>Has the source send the VM's memory, and enters <see cref="MigrationPhase.Transferring"/>.</summary>
    private async Task SendMemoryAsync()
    {
        var source = Record.Source!;

        // The source's migration status may still describe an earlier migration (the one that brought the VM here):
        // only a send recorded as this migration's counts.
        try
        {
            await SourceHost().SendMigration(source.Assignment, Record.Uri!, Settings());
        }
        catch (FabricException ex) when (ex.Code != ErrorCodes.Unavailable && !ex.Message.Contains("in progress", StringComparison.Ordinal))
        {
            var side = await SourceHost().QueryMigration(Vm, source.Assignment.Epoch);
            await BeginAbortAsync(MigrationPhase.Failed, side.Alive
                ? $"the source host '{source.Assignment.Host}' could not send: {ex.Message}"
                : $"the source QEMU ended before the transfer began ({side.ProcessReason})");
            return;
        }

        _leastRemaining = long.MaxValue;
        _progressAt = time.GetUtcNow();
        await EnterAsync(MigrationPhase.Transferring);
    }

    /// <summary>
    /// Watches the source's disk mirrors: any error ends the migration; once every disk is in sync (each later guest
    /// write reaches the target before it completes) the memory follows. Bytes copied must keep rising, and the whole
    /// copy has a budget by the disks' size.
    /// </summary>
    private async Task MirrorAsync()
    {
        var source = Record.Source!;
        var now = time.GetUtcNow();
        var mirrors = await SourceStorage().QueryMirror(Vm, source.Assignment.Epoch);
        if (mirrors.FirstOrDefault(m => m.Error is not null) is { } failed)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"the mirror of disk {failed.Slot} to host '{Record.TargetHost}' failed: {failed.Error}");
            return;
        }

        if (mirrors.Length < LocalDisks().Length)
        {
            var side = await SourceHost().QueryMigration(Vm, source.Assignment.Epoch);
            await BeginAbortAsync(MigrationPhase.Failed, side.Alive
                ? $"the source mirrors {mirrors.Length} of its {LocalDisks().Length} local-pool disks"
                : $"the source QEMU ended while its disks were mirrored ({side.ProcessReason})");
            return;
        }

        if (mirrors.All(m => m.Ready))
        {
            var total = mirrors.Sum(m => m.TotalBytes);
            var took = (long)(now - Record.PhaseSince).TotalMilliseconds;
            LogDisksInSync(Vm, Record.Id, total, took);
            await SendMemoryAsync();
            return;
        }

        var copied = mirrors.Sum(m => m.CopiedBytes);
        if (copied > _mostCopied)
        {
            (_mostCopied, _progressAt) = (copied, now);
        }
        else if (now - _progressAt > Options.StallTimeout)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"the disk mirror made no progress for {Options.StallTimeout.TotalSeconds:0} s ({Sizes.FormatBytes(copied)} of {Sizes.FormatBytes(mirrors.Sum(m => m.TotalBytes))} copied)");
            return;
        }

        var budget = Options.BudgetFor(mirrors.Sum(m => m.TotalBytes) >> 20);
        if (now - Record.PhaseSince > budget)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"the disk mirror did not get in sync within its budget of {budget.TotalSeconds:0} s ({Sizes.FormatBytes(copied)} of {Sizes.FormatBytes(mirrors.Sum(m => m.TotalBytes))} copied)");
        }
    }

    /// <summary>The VM's disks whose volumes live on its source host (local pools): mirrored to the target.</summary>
    private ImmutableArray<DiskPlacement> LocalDisks() =>
        [.. Record.Source!.Reservation.Disks.Where(d => d.Pool.Type == PoolType.Local)];

    /// <summary>
    /// After the commit: each local-pool volume now lives on the target (its pool deletes the source's file). Recorded
    /// once done, so a repeated step does not ask again.
    /// </summary>
    private async Task CommitCopiesAsync()
    {
        if (Record.CopiesCommitted || LocalDisks().IsEmpty)
        {
            return;
        }

        foreach (var disk in LocalDisks())
        {
            await Pool(disk).CommitCopy(disk.Volume, Vm, Record.TargetHost!, Record.Id);
        }

        var next = Record.Copy();
        next.CopiesCommitted = true;
        await WriteAsync(next);
    }

    private IStoragePoolGrain Pool(DiskPlacement disk) => GrainFactory.GetGrain<IStoragePoolGrain>(disk.Pool.Pool);

    private IHostStorage SourceStorage() => GrainFactory.GetGrain<IHostStorage>(Record.Source!.Assignment.Host);

    private IHostStorage TargetStorage() => GrainFactory.GetGrain<IHostStorage>(Record.TargetHost!);

    /// <summary>Reserves the target through the scheduler (or on the requested host); false while every candidate is busy.</summary>
    private async Task<bool> ReserveTargetAsync()
    {
        if (Record.TargetHost is not null)
        {
            return true;
        }

        var source = Record.Source!;
        // The VM's own host pin named its source; a migration goes where it is asked to, or where the scheduler says.
        var placement = source.Placement with { Host = Record.Request.TargetHost };
        var request = new PlacementRequest
        {
            Reservation = source.Reservation with { Epoch = Record.TargetEpoch, IncomingMigration = Record.Id },
            Placement = placement,
            ExcludedHosts = [source.Assignment.Host],
        };
        if (Record.Request.TargetHost == source.Assignment.Host)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"to: vm '{Vm}' already runs on host '{source.Assignment.Host}'");
            return false;
        }

        PlacementDecision decision;
        try
        {
            decision = await GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).Place(request);
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.InsufficientCapacity && ex.Message.Contains(MigrationLimits.IncomingSlotsFull, StringComparison.Ordinal))
        {
            await WaitOrFailAsync(Options.QueueTimeout, $"waiting for an incoming migration slot: {ex.Message}");
            return false;
        }
        catch (FabricException ex) when (ex.Code != ErrorCodes.Unavailable)
        {
            await BeginAbortAsync(MigrationPhase.Failed, ex.Message);
            return false;
        }

        var reserved = Record.Copy();
        reserved.TargetHost = decision.Host;
        await WriteAsync(reserved);
        await TheVm().UpdateMigration(Record.Id, MigrationPhase.PreparingTarget, Record.TargetEpoch, decision.Host);
        LogTargetReserved(Vm, Record.Id, decision.Host, Record.TargetEpoch);
        return true;
    }

    private async Task TransferAsync()
    {
        var source = Record.Source!;
        var now = time.GetUtcNow();
        if (!await ReachableAsync(source.Assignment.Host))
        {
            if (Record.Abort is not null)
            {
                return;
            }

            // The source's silo is away; its QEMU may still finish the stream: the target says whether it has it all.
            var target = await TargetHost().QueryMigration(Vm, Record.TargetEpoch);
            if (target.Status == "completed")
            {
                await EnterAsync(MigrationPhase.SwitchingOver);
            }

            return;
        }

        var side = await SourceHost().QueryMigration(Vm, source.Assignment.Epoch);
        if (!LocalDisks().IsEmpty)
        {
            // With mirrored disks the source stops its guest at pre-switchover and waits there for the mirrors to end:
            // the target cannot finish first, so watch the source closely instead (the guest is paused meanwhile).
            var until = now + TargetWatch;
            while (side.Alive && side.Status is "active" or "device" && time.GetUtcNow() < until)
            {
                await Task.Delay(SourceWatchInterval);
                side = await SourceHost().QueryMigration(Vm, source.Assignment.Epoch);
            }
        }

        Observe(side);
        if (!side.Alive)
        {
            // The source is gone; the VM lives on only if the target already holds all of it.
            if (await ReachableAsync(Record.TargetHost!) && await TargetHost().QueryMigration(Vm, Record.TargetEpoch) is { Alive: true, Status: "completed" })
            {
                await EnterAsync(MigrationPhase.SwitchingOver);
                await SwitchOverAsync();
                return;
            }

            await BeginAbortAsync(MigrationPhase.Failed, $"the source QEMU ended during the transfer ({side.ProcessReason})");
            return;
        }

        switch (side.Status)
        {
            case "pre-switchover":
                // Mirrored disks: the source's guest is stopped and its disks still usable; the mirrors make their last
                // copy and QEMU is told to go on (a disk that cannot get in sync cancels the memory migration instead).
                try
                {
                    await SourceStorage().EndMirror(source.Assignment);
                }
                catch (FabricException ex) when (ex.Code != ErrorCodes.Unavailable)
                {
                    await BeginAbortAsync(MigrationPhase.Failed, $"the disks could not be brought in sync at the switch-over: {ex.Message}");
                }

                return;
            case "completed":
            case "postcopy-active" when Record.PostcopyStarted:
                await EnterAsync(MigrationPhase.SwitchingOver);
                await SwitchOverAsync();
                return;
            case "failed":
            case "cancelled":
            case "none":
                await BeginAbortAsync(MigrationPhase.Failed, $"QEMU's migration {side.Status}: {side.Error ?? "no reason given"}");
                return;
        }

        if (await ReachableAsync(Record.TargetHost!))
        {
            // Wait on the target rather than idly, and for longer than a step: the guest stays paused from the source's
            // last pass until the switch-over, so the coordinator must see the stream's end at once, not at its next step.
            var target = await TargetHost().AwaitIncoming(Vm, Record.TargetEpoch, LocalDisks().IsEmpty ? TargetWatch : TimeSpan.Zero);
            if (!target.Alive)
            {
                await BeginAbortAsync(MigrationPhase.Failed, $"the target QEMU on host '{Record.TargetHost}' ended during the transfer ({target.ProcessReason})");
                return;
            }

            if (target.Status == "completed")
            {
                Observe(await SourceHost().QueryMigration(Vm, source.Assignment.Epoch));
                await EnterAsync(MigrationPhase.SwitchingOver);
                await SwitchOverAsync();
                return;
            }
        }

        if (Record.Abort is not null)
        {
            return;
        }

        // The watchdog: remaining data must keep dropping (the first pass counts too).
        if (side.RemainingBytes > 0 && side.RemainingBytes < _leastRemaining)
        {
            _leastRemaining = side.RemainingBytes;
            _progressAt = now;
        }
        else if (now - _progressAt > Options.StallTimeout)
        {
            if (PostcopyAllowed && !Record.PostcopyStarted)
            {
                // Stalled pre-copy is what post-copy is for: switch now rather than wait out the budget.
                await StartPostcopyAsync($"no progress for {Options.StallTimeout.TotalSeconds:0} s");
                return;
            }

            await BeginAbortAsync(MigrationPhase.Failed, $"no progress: {Sizes.FormatBytes(side.RemainingBytes)} still to send and none of it went down for {Options.StallTimeout.TotalSeconds:0} s (dirtied at {Sizes.FormatBytes(side.DirtyBytesPerSecond)}/s, sent at {Sizes.FormatBytes(side.BytesPerSecond)}/s)");
            return;
        }

        var budget = Options.BudgetFor(source.Reservation.Resources.MemoryMiB);
        if (now - Record.PhaseSince > budget)
        {
            if (PostcopyAllowed && !Record.PostcopyStarted)
            {
                await StartPostcopyAsync($"pre-copy over its budget of {budget.TotalSeconds:0} s");
                return;
            }

            if (!Record.PostcopyStarted)
            {
                await BeginAbortAsync(MigrationPhase.Failed, $"pre-copy did not finish within its budget of {budget.TotalSeconds:0} s ({Sizes.FormatBytes(side.RemainingBytes)} left after {side.Passes} passes; try --auto-converge or --postcopy)");
            }
        }
    }

    /// <summary>
    /// Post-copy moves the guest to the target before all its memory has: from then on only the target can go on, so
    /// the VM commits to it first (a post-copy that breaks loses the guest, which is why it is opt-in).
    /// </summary>
    private async Task StartPostcopyAsync(string why)
    {
        await CommitAsync();
        await SourceHost().StartPostcopy(Record.Source!.Assignment);
        var switched = Record.Copy();
        switched.PostcopyStarted = true;
        await WriteAsync(switched);
        LogPostcopy(Vm, Record.Id, why);

        // The target was started with -S: asking it to continue now lets it run as soon as post-copy hands it the guest.
        await ResumeTargetAsync();
    }

    private async Task SwitchOverAsync()
    {
        var source = Record.Source!;
        var now = time.GetUtcNow();
        if (!Record.Committed)
        {
            if (Held(MigrationPhase.SwitchingOver) || !await ReachableAsync(Record.TargetHost!))
            {
                return;
            }

            var target = await TargetHost().QueryMigration(Vm, Record.TargetEpoch);
            if (!target.Alive)
            {
                await BeginAbortAsync(MigrationPhase.Failed, $"the target QEMU on host '{Record.TargetHost}' ended before the switch-over ({target.ProcessReason})");
                return;
            }

            if (target.Status is "failed" or "cancelled")
            {
                await BeginAbortAsync(MigrationPhase.Failed, $"the target's incoming migration {target.Status}: {target.Error ?? "no reason given"}");
                return;
            }

            if (target.Status != "completed")
            {
                if (now - Record.PhaseSince > Options.SwitchOverTimeout)
                {
                    await BeginAbortAsync(MigrationPhase.Failed, $"the target did not report the whole VM received within {Options.SwitchOverTimeout.TotalSeconds:0} s (its status: {target.Status})");
                }

                return;
            }

            // The target holds the whole VM, paused: its disk export ends (it would still take writes into the running
            // guest's disks), then commit, then let it run.
            if (!LocalDisks().IsEmpty)
            {
                await TargetStorage().EndExport(TargetAssignment());
            }

            await CommitAsync();
        }

        await ResumeTargetAsync();
        if (Record.PostcopyStarted && await ReachableAsync(source.Assignment.Host))
        {
            // The target still pulls pages from the source until post-copy completes: the source must live until then.
            var side = await SourceHost().QueryMigration(Vm, source.Assignment.Epoch);
            Observe(side);
            if (side.Alive && side.Status is "postcopy-active" or "active" or "device")
            {
                return;
            }
        }

        // Whatever the target's state, the VM is there now: the source is superseded; EndMigration settles the VM.
        var last = await ReachableAsync(source.Assignment.Host) ? await SourceHost().QueryMigration(Vm, source.Assignment.Epoch) : null;
        if (last is { Alive: true })
        {
            Observe(last);
        }

        // The guest's pause, by QEMU's own clocks: the source's STOP (of this migration) to the target's RESUME.
        var received = await TargetHost().QueryMigration(Vm, Record.TargetEpoch);
        var resumedAt = received.ResumedAt;
        var figures = Record.Copy();
        figures.Encrypted = Record.Figures is { TlsCredentials.Length: > 0 } && received.TlsCredentials.Length > 0;
        if (source.WasRunning && Record.Figures?.StoppedAt is { } stopped && stopped >= Record.StartedAt && resumedAt is { } resumed && resumed >= stopped)
        {
            figures.GuestPauseMs = (long)(resumed - stopped).TotalMilliseconds;
        }

        await WriteAsync(figures);
        if (await ReachableAsync(source.Assignment.Host))
        {
            await SourceHost().Fence(Vm, source.Assignment.Epoch, $"migrated to host '{Record.TargetHost}' (migration {Record.Id})");
        }

        await CommitCopiesAsync();
        await TargetHost().EndMigration(Vm, Record.TargetEpoch, Record.Id);
        var vm = await TheVm().EndMigration(Record.Id, null);
        await FinishAsync(vm.State == VmState.Failed ? MigrationPhase.Failed : MigrationPhase.Succeeded, vm.State == VmState.Failed ? vm.Reason : null);
    }

    private async Task CommitAsync()
    {
        if (Record.Committed)
        {
            return;
        }

        await TheVm().CommitMigration(Record.Id, Record.TargetHost!, Record.TargetEpoch);
        var committed = Record.Copy();
        committed.Committed = true;
        await WriteAsync(committed);
        LogCommitted(Vm, Record.Id, Record.TargetHost!);
    }

    private async Task ResumeTargetAsync()
    {
        if (Record.TargetResumed || !Record.Source!.WasRunning)
        {
            return;
        }

        await TargetHost().Resume(TargetAssignment());
        var resumed = Record.Copy();
        resumed.TargetResumed = true;
        await WriteAsync(resumed);
    }

    /// <summary>Marks the migration for undoing (persisted first), with the phase it will end in.</summary>
    private async Task BeginAbortAsync(MigrationPhase outcome, string reason)
    {
        if (Record.Abort is not null || !Record.IsActive)
        {
            return; // Already being undone (the step loop carries on with it), or over.
        }

        if (Record.Committed)
        {
            // Past the switch-over there is nothing to undo: the VM is the target's; see it through.
            LogCannotUndo(Vm, Record.Id, reason);
            return;
        }

        var next = Record.Copy();
        next.Abort = new MigrationAbort(outcome, reason);
        next.Reason = reason;
        await WriteAsync(next);
        LogAborting(Vm, Record.Id, Record.Phase, reason);
        await UndoAsync(next.Abort);
    }

    /// <summary>
    /// Undoes a migration that did not commit, each step harmless to repeat: the source's stream cancelled and its
    /// guest resumed, the target fenced, the source's slot given back, and the VM settled back on its source.
    /// </summary>
    private async Task UndoAsync(MigrationAbort abort)
    {
        var source = Record.Source!;
        var sourceUp = hosts.IsUp(source.Assignment.Host);
        if (sourceUp)
        {
            await SourceHost().CancelMigration(source.Assignment, resume: source.WasRunning);
            if (Record.MirrorStarted)
            {
                // After the cancel: at the switch-over's pause, ending the mirrors would let the migration go on.
                await SourceStorage().EndMirror(source.Assignment);
            }
        }

        if (Record.TargetHost is { } target && hosts.IsUp(target))
        {
            try
            {
                await TargetHost().Fence(Vm, Record.TargetEpoch, $"migration {Record.Id} was undone: {abort.Reason}");
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Only a shortcut: once the migration has ended, the VM no longer owns the target's epoch and fences it at
                // the target's next report (after a partition heals, or the host returns).
                LogTargetFenceDeferred(Vm, Record.Id, target, ex.Message);
            }
        }

        // The copies on the target go (their files deleted, no longer counted); a target that is Down keeps its file.
        foreach (var disk in LocalDisks())
        {
            await Pool(disk).AbortCopy(disk.Volume, Vm, Record.Id);
        }

        if (sourceUp)
        {
            await SourceHost().EndMigration(Vm, source.Assignment.Epoch, Record.Id);
        }

        // A target that was Down is fenced when it returns: the VM no longer owns that epoch once the migration ends.
        await TheVm().EndMigration(Record.Id, abort.Outcome == MigrationPhase.Cancelled ? $"migration cancelled: {abort.Reason}" : $"migration failed: {abort.Reason}");
        await FinishAsync(abort.Outcome, abort.Reason);
    }

    private async Task FinishAsync(MigrationPhase outcome, string? reason)
    {
        var next = Record.Copy();
        next.Phase = outcome;
        next.Reason = reason ?? next.Reason;
        next.EndedAt = time.GetUtcNow();
        await WriteAsync(next);
        LogFinished(Vm, Record.Id, outcome, Record.TargetHost ?? "-", (long)(next.EndedAt.Value - Record.StartedAt).TotalMilliseconds, reason ?? "");
        ScheduleSteps();
    }

    /// <summary>
    /// Fault injection for tests (<see cref="MigrationOptions.HoldFile"/>): while the hold file names
    /// <paramref name="phase"/>, a migration does not leave it (before the switch-over commits, for SwitchingOver);
    /// its deadlines run on.
    /// </summary>
    private bool Held(MigrationPhase phase)
    {
        if (Options.HoldFile is not { } file || !File.Exists(file) || !string.Equals(ReadHold(file), phase.ToString(), StringComparison.Ordinal))
        {
            return false;
        }

        Note($"held in {phase} for a test (while {file} exists)");
        return true;
    }

    private static string? ReadHold(string file)
    {
        try
        {
            return File.ReadAllText(file).Trim();
        }
        catch (IOException)
        {
            return null; // Removed as we read it: released.
        }
    }

    /// <summary>Waits in the current phase, failing the migration once <paramref name="timeout"/> is over.</summary>
    private async Task WaitOrFailAsync(TimeSpan timeout, string what)
    {
        if (time.GetUtcNow() - Record.PhaseSince > timeout)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"{what} for more than {timeout.TotalSeconds:0} s");
            return;
        }

        Note(what);
    }

    /// <summary>Whether <paramref name="host"/> is up; a host Down for longer than allowed aborts a migration that has not committed.</summary>
    private async Task<bool> ReachableAsync(string host)
    {
        if (hosts.IsUp(host))
        {
            _unreachableSince.Remove(host);
            return true;
        }

        var now = time.GetUtcNow();
        var since = _unreachableSince.TryGetValue(host, out var known) ? known : _unreachableSince[host] = now;
        if (now - since > Options.UnreachableTimeout)
        {
            await BeginAbortAsync(MigrationPhase.Failed, $"host '{host}' has been Down for more than {Options.UnreachableTimeout.TotalSeconds:0} s");
        }

        return false;
    }

    private async Task EnterAsync(MigrationPhase phase)
    {
        var next = Record.Copy();
        next.Phase = phase;
        next.PhaseSince = time.GetUtcNow();
        next.Reason = null;
        await WriteAsync(next);
        LogPhase(Vm, Record.Id, phase);
        await TheVm().UpdateMigration(Record.Id, phase, Record.TargetEpoch, Record.TargetHost);
    }

    /// <summary>Keeps the latest figures of the source in memory (and for readers), without a write per look.</summary>
    private void Observe(MigrationSide side)
    {
        if (side.Alive && side.Status != "absent")
        {
            Record.Figures = side;
            Changed();
        }
    }

    private void Note(string reason)
    {
        if (Record.Reason != reason)
        {
            Record.Reason = reason;
            Changed();
        }
    }

    private async Task WriteAsync(MigrationRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"migration of vm '{Vm}': its record could not be written ({failure.Message}); nothing was changed");
        }

        Changed();
    }

    /// <summary>After a write of unknown effect, the record is read again before anything else is decided from it.</summary>
    private async Task ReloadIfNeededAsync()
    {
        if (_mustReload)
        {
            await state.ReadStateAsync();
            _mustReload = false;
        }
    }

    private void Changed()
    {
        _version++;
        if (_waiters.Count == 0)
        {
            return;
        }

        var info = Info();
        foreach (var (_, done) in _waiters)
        {
            done.TrySetResult(info);
        }
    }

    /// <summary>Post-copy runs the guest on the target before the source's disks could be handed over: not with mirrored disks.</summary>
    private bool PostcopyAllowed => Record.Request.Postcopy && LocalDisks().IsEmpty;

    private MigrationStreamSettings Settings() =>
        new(Record.Request.Postcopy, Record.Request.AutoConverge, Record.Request.DowntimeLimitMs, Record.Request.BandwidthBytesPerSecond);

    private VmAssignment TargetAssignment() => new(Vm, Record.TargetHost!, Record.TargetEpoch, Record.Source!.Assignment.InstanceId);

    private IHostGrain SourceHost() => GrainFactory.GetGrain<IHostGrain>(Record.Source!.Assignment.Host);

    private IHostGrain TargetHost() => GrainFactory.GetGrain<IHostGrain>(Record.TargetHost!);

    private IVmGrain TheVm() => GrainFactory.GetGrain<IVmGrain>(Vm);

    private MigrationInfo Info()
    {
        var figures = Record.Figures;
        var end = Record.EndedAt ?? time.GetUtcNow();
        return new MigrationInfo
        {
            Id = Record.Id,
            Vm = Vm,
            Phase = Record.Phase,
            From = Record.Source?.Assignment.Host ?? "",
            To = Record.TargetHost,
            StartedAt = Record.StartedAt,
            EndedAt = Record.EndedAt,
            Reason = Record.Reason,
            TotalMs = (long)(end - Record.StartedAt).TotalMilliseconds,
            DowntimeMs = figures?.DowntimeMs,
            GuestPauseMs = Record.GuestPauseMs,
            TransferredBytes = figures?.TransferredBytes ?? 0,
            RemainingBytes = figures?.RemainingBytes ?? 0,
            TotalBytes = figures?.TotalBytes ?? 0,
            BytesPerSecond = figures?.BytesPerSecond ?? 0,
            DirtyBytesPerSecond = figures?.DirtyBytesPerSecond ?? 0,
            Passes = figures?.Passes ?? 0,
            ThrottlePercent = figures?.ThrottlePercent ?? 0,
            Postcopy = Record.PostcopyStarted,
            QemuTotalMs = figures?.TotalMs,
            Version = _version,
            Request = Record.Request,
            Coordinator = RuntimeIdentity,
            Encrypted = Record.Encrypted,
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: started from host {From} to {To}")]
    private partial void LogStarted(string vm, string migration, string from, string to);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: target reserved on host {Host} at epoch {Epoch}")]
    private partial void LogTargetReserved(string vm, string migration, string host, long epoch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: {Phase}")]
    private partial void LogPhase(string vm, string migration, MigrationPhase phase);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: switch-over committed to host {Host}")]
    private partial void LogCommitted(string vm, string migration, string host);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: {Why}; switched to post-copy")]
    private partial void LogPostcopy(string vm, string migration, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration of vm {Vm} ({Migration}): {Bytes} bytes of local-pool disks in sync on the target after {Ms} ms")]
    private partial void LogDisksInSync(string vm, string migration, long bytes, long ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration {Migration} of vm {Vm}: undoing it in phase {Phase}: {Reason}")]
    private partial void LogAborting(string vm, string migration, MigrationPhase phase, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration {Migration} of vm {Vm}: has committed, so it is seen through despite: {Reason}")]
    private partial void LogCannotUndo(string vm, string migration, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm}: {Outcome} (target {Target}) after {Milliseconds} ms {Reason}")]
    private partial void LogFinished(string vm, string migration, MigrationPhase outcome, string target, long milliseconds, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migration {Migration} of vm {Vm} had ended; its slot on host {Host} is given back")]
    private partial void LogSlotReleased(string vm, string migration, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm} waited on migration {Migration}, which its coordinator does not run (its record: {Record}); ended it on the VM")]
    private partial void LogOrphanEnded(string vm, string migration, string record);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration {Migration} of vm {Vm}: target host {Host} not reached to fence it ({Error}); the VM fences it at its next report")]
    private partial void LogTargetFenceDeferred(string vm, string migration, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migration {Migration} of vm {Vm}: step in phase {Phase} failed, retrying: {Error}")]
    private partial void LogStepFailed(string vm, string migration, MigrationPhase phase, string error);
}
