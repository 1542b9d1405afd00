using Fabric.Contracts;
using Fabric.Grains.Events;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Vm;

/// <summary>
/// One VM: the single writer of its record. Requests run one at a time (not reentrant); reads, waits and the console
/// interleave. Every state change goes through <see cref="VmLifecycle"/> and is persisted before it is acted on, so a
/// crash mid-request leaves a record that says what was being attempted (Starting, Stopping) with the instance id
/// the host will report on.
/// </summary>
internal sealed partial class VmGrain(
    [PersistentState("vm", FabricPersistence.Name)] IPersistentState<VmRecord> state,
    IVmCatalog catalog,
    HostDirectory hosts,
    FleetEventPublisher events,
    TimeProvider time,
    ILogger<VmGrain> logger) : Grain, IVmGrain
{
    /// <summary>The longest a single <see cref="IVmGrain.WaitFor"/> call waits (callers loop for longer waits).</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(20);
    private const int MaxConsoleInput = 4096;

    private static readonly TimeSpan CatalogRetryInterval = TimeSpan.FromSeconds(5);

    private List<(VmState[] States, TaskCompletionSource<VmInfo> Done)>? _waiters;
    private IGrainTimer? _catalogRetry;

    private string Name => this.GetPrimaryKeyString();

    private VmRecord Record => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Record.Spec is { } stored)
        {
            state.State.Spec = Compact(stored);
            state.State.Host = string.Intern(Record.Host);
        }

        // A request cut short by a crash left Starting or Stopping behind: ask the host how it ended.
        if (Record.Exists && Record.State is VmState.Starting or VmState.Stopping)
        {
            this.RegisterGrainTimer(RefreshFromHostAsync, new GrainTimerCreationOptions(TimeSpan.Zero, Timeout.InfiniteTimeSpan) { Interleave = false });
        }

        return Task.CompletedTask;
    }

    async Task<VmInfo> IVmGrain.Create(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Record.Exists)
        {
            throw FabricException.Conflict($"vm '{Name}' already exists (it is {Record.State})");
        }

        spec = Compact(spec.Validate());
        if (spec.Name != Name)
        {
            throw FabricException.InvalidSpec("name", $"'{spec.Name}' does not match the VM being created ('{Name}')");
        }

        var request = new PlacementRequest
        {
            Reservation = new VmReservation
            {
                Vm = Name,
                Resources = new Resources(spec.VCpus, spec.MemoryMiB),
                Image = spec.Image,
                AntiAffinityGroup = spec.Placement.AntiAffinityGroup,
                AffinityGroup = spec.Placement.AffinityGroup,
            },
            Placement = spec.Placement,
        };
        var decision = await GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).Place(request);

        var now = time.GetUtcNow();
        state.State = new VmRecord { Spec = spec, State = VmState.Defined, Host = string.Intern(decision.Host), CreatedAt = now, Since = now };
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // The VM does not exist unless its record does: give the reservation back.
            state.State = new VmRecord();
            try
            {
                await GrainFactory.GetGrain<IHostGrain>(decision.Host).Release(Name);
            }
            catch (Exception releaseError) when (releaseError is not OutOfMemoryException)
            {
                LogReleaseFailed(Name, decision.Host, releaseError.Message);
            }

            throw new FabricException(ErrorCodes.Unavailable, $"vm '{Name}' could not be recorded: {ex.Message}", ex);
        }

        LogCreated(Name, decision.Host, decision.Policy);
        await Task.WhenAll(
            UpdateCatalogAsync(),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmPlaced, At = now, Vm = Name, Host = decision.Host, To = nameof(VmState.Defined) }));
        return Info(full: true);
    }

    async Task<VmInfo> IVmGrain.Start()
    {
        Require(VmAction.Start);
        var host = RequireHostUp();
        var before = Record.Copy();
        var instanceId = Guid.NewGuid();
        Record.InstanceId = instanceId;
        Record.Pid = null;
        await ChangeAsync(VmState.Starting, null);

        VmObservation observation;
        try
        {
            observation = await host.Launch(Name, instanceId);
        }
        catch (Exception ex)
        {
            throw await FailedHostCallAsync(ex, before);
        }

        await ApplyAsync(observation);
        return Info(full: true);
    }

    async Task<VmInfo> IVmGrain.Stop(StopOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Require(VmAction.Stop);
        var host = RequireHostUp();
        var before = Record.Copy();
        await ChangeAsync(VmState.Stopping, options.Force ? "forced stop requested" : "stop requested");

        VmObservation observation;
        try
        {
            observation = await host.Stop(Name, Record.InstanceId ?? Guid.Empty, options);
        }
        catch (Exception ex)
        {
            throw await FailedHostCallAsync(ex, before);
        }

        await ApplyAsync(observation);
        return Info(full: true);
    }

    Task<VmInfo> IVmGrain.Pause() => RunningOperationAsync(VmAction.Pause, (host, instance) => host.Pause(Name, instance));

    Task<VmInfo> IVmGrain.Resume() => RunningOperationAsync(VmAction.Resume, (host, instance) => host.Resume(Name, instance));

    Task<VmInfo> IVmGrain.Reboot() => RunningOperationAsync(VmAction.Reboot, (host, instance) => host.Reset(Name, instance));

    async Task IVmGrain.Delete()
    {
        Require(VmAction.Delete);
        var host = RequireHostUp();
        try
        {
            await host.Release(Name);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }

        var from = Record.State;
        var hostName = Record.Host;
        await state.ClearStateAsync();
        state.State = new VmRecord();
        LogDeleted(Name, hostName);
        await Task.WhenAll(
            catalog.RemoveAsync(Name),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmDeleted, At = time.GetUtcNow(), Vm = Name, Host = hostName, From = from.ToString(), To = nameof(VmState.Deleted) }));
        CompleteWaiters();
        DeactivateOnIdle();
    }

    Task<VmInfo> IVmGrain.Get() => Task.FromResult(Info(full: true));

    async Task<VmInfo> IVmGrain.WaitFor(VmState[] states, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(states);
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
            return Info(full: true);
        }
        finally
        {
            _waiters?.RemoveAll(w => w.Done == done);
        }
    }

    async Task<ConsoleChunk> IVmGrain.ReadConsole(long offset, int maxBytes, TimeSpan wait)
    {
        var host = RequireHostUp();
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
        if (text.Length > MaxConsoleInput)
        {
            throw FabricException.InvalidSpec("text", $"is {text.Length} characters long; the limit is {MaxConsoleInput}");
        }

        var host = RequireHostUp();
        if (Record.State is not (VmState.Running or VmState.Paused) || Record.InstanceId is not { } instance)
        {
            throw FabricException.Conflict($"vm '{Name}' is {Record.State}; its console takes input only while it runs");
        }

        try
        {
            await host.SendConsole(Name, instance, text);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }
    }

    Task IVmGrain.Observe(VmObservation observation) => ApplyAsync(observation);

    private async Task<VmInfo> RunningOperationAsync(VmAction action, Func<IHostGrain, Guid, Task<VmObservation>> call)
    {
        Require(action);
        var host = RequireHostUp();
        VmObservation observation;
        try
        {
            observation = await call(host, Record.InstanceId ?? Guid.Empty);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }

        if (action == VmAction.Reboot)
        {
            await ChangeAsync(VmState.Running, "rebooted");
        }

        await ApplyAsync(observation);
        return Info(full: true);
    }

    /// <summary>
    /// A host call failed after the VM moved to a transitional state. Refused: nothing happened, so the VM is put back
    /// as it was. Unknown outcome (timeout, crash): the VM is Failed, and the host's next report for the instance
    /// settles it.
    /// </summary>
    private async Task<FabricException> FailedHostCallAsync(Exception exception, VmRecord before)
    {
        var error = HostCalls.ToFabric(exception, Record.Host);
        if (HostCalls.IsRefusal(exception))
        {
            var to = before.State;
            var from = Record.State;
            state.State = before;
            await SaveAsync(from, to, error.Message);
        }
        else
        {
            await ChangeAsync(VmState.Failed, error.Message);
        }

        return error;
    }

    private async Task ApplyAsync(VmObservation observation)
    {
        if (!Record.Exists || observation.Host != Record.Host || observation.At < Record.LastObservedAt)
        {
            return;
        }

        var current = observation.InstanceId != Guid.Empty && observation.InstanceId == Record.InstanceId;
        var unknownInstance = observation.InstanceId == Guid.Empty && observation.At >= Record.Since;
        if (!current && !unknownInstance)
        {
            return; // About another process: an older one, or one this VM never asked for.
        }

        Record.LastObservedAt = observation.At;
        if (Observed(Record.State, observation.Power, current) is { } next)
        {
            if (next is VmState.Stopped or VmState.Failed)
            {
                Record.Pid = null;
            }
            else
            {
                Record.Pid = observation.Pid;
            }

            if (next != Record.State)
            {
                await ChangeAsync(next, observation.Reason);
                return;
            }
        }

        if (Record.State is VmState.Running or VmState.Paused && observation.Pid is { } pid && Record.Pid != pid)
        {
            Record.Pid = pid;
            await state.WriteStateAsync();
        }
    }

    /// <summary>
    /// A fleet holds many VMs of few images, mostly without placement constraints: records share one copy of each image
    /// name and of the empty placement rather than hold deserialized copies (image names are validated, and few).
    /// </summary>
    private static VmSpec Compact(VmSpec spec) => spec with
    {
        Image = string.Intern(spec.Image),
        Placement = spec.Placement == VmPlacement.None ? VmPlacement.None : spec.Placement,
    };

    /// <summary>The state an observation leads to from <paramref name="state"/>, or null when it changes nothing.</summary>
    internal static VmState? Observed(VmState state, RuntimePower power, bool currentInstance) => (state, power) switch
    {
        // A stop is under way: only the end of the process matters.
        (VmState.Stopping, RuntimePower.ShutDown or RuntimePower.Crashed or RuntimePower.Absent) => VmState.Stopped,
        (VmState.Stopping, _) => null,

        (VmState.Starting or VmState.Running or VmState.Paused, RuntimePower.ShutDown) => VmState.Stopped,
        (VmState.Starting or VmState.Running or VmState.Paused, RuntimePower.Crashed) => VmState.Failed,

        // While starting, the launch's own answer settles whether a process exists.
        (VmState.Running or VmState.Paused, RuntimePower.Absent) => VmState.Failed,

        (VmState.Starting or VmState.Paused, RuntimePower.Running) => VmState.Running,
        (VmState.Starting or VmState.Running, RuntimePower.Paused) => VmState.Paused,

        // A start of unknown outcome turned out to have launched the process.
        (VmState.Failed, RuntimePower.Running) when currentInstance => VmState.Running,
        (VmState.Failed, RuntimePower.Paused) when currentInstance => VmState.Paused,

        (VmState.Running, RuntimePower.Running) or (VmState.Paused, RuntimePower.Paused) => state,
        _ => null,
    };

    private async Task RefreshFromHostAsync(CancellationToken cancellationToken)
    {
        if (!Record.Exists || Record.State is not (VmState.Starting or VmState.Stopping) || !hosts.IsUp(Record.Host))
        {
            return;
        }

        try
        {
            await ApplyAsync(await GrainFactory.GetGrain<IHostGrain>(Record.Host).Observe(Name));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRefreshFailed(Name, Record.Host, ex.Message);
        }
    }

    private void Require(VmAction action)
    {
        if (!Record.Exists)
        {
            throw FabricException.NotFound("vm", Name);
        }

        VmLifecycle.Require(Name, Record.State, action);
    }

    private IHostGrain RequireHostUp()
    {
        if (!Record.Exists)
        {
            throw FabricException.NotFound("vm", Name);
        }

        return hosts.IsUp(Record.Host)
            ? GrainFactory.GetGrain<IHostGrain>(Record.Host)
            : throw FabricException.Unavailable($"vm '{Name}' is on host '{Record.Host}', which is Down; the VM is unreachable until its host returns");
    }

    private async Task ChangeAsync(VmState to, string? reason)
    {
        var from = Record.State;
        if (!VmLifecycle.CanTransition(from, to))
        {
            throw FabricException.Conflict($"vm '{Name}' is {from}; it cannot become {to}");
        }

        Record.State = to;
        await SaveAsync(from, to, reason);
    }

    /// <summary>Records a transition that already happened in memory: history, persistence, catalog, event, waiters.</summary>
    private async Task SaveAsync(VmState from, VmState to, string? reason)
    {
        var now = time.GetUtcNow();
        Record.Reason = reason;
        Record.Since = now;
        Record.History.Add(new VmHistoryEntry(now, from, to, reason));
        if (Record.History.Count > VmRecord.MaxHistory)
        {
            Record.History.RemoveRange(0, Record.History.Count - VmRecord.MaxHistory);
        }

        await state.WriteStateAsync();
        LogTransition(Name, from, to, reason ?? "");
        await Task.WhenAll(
            UpdateCatalogAsync(),
            events.PublishAsync(new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = now, Vm = Name, Host = Record.Host, From = from.ToString(), To = to.ToString(), Reason = reason }));
        CompleteWaiters();
    }

    /// <summary>
    /// Keeps the VM's summary in the catalog current. The record is the truth and the catalog an index: a failed
    /// update does not fail the request, it is retried until it lands.
    /// </summary>
    private async Task UpdateCatalogAsync()
    {
        try
        {
            await catalog.UpsertAsync(Info(full: false));
            _catalogRetry?.Dispose();
            _catalogRetry = null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogCatalogFailed(Name, ex.Message);
            _catalogRetry ??= this.RegisterGrainTimer(RetryCatalogAsync, CatalogRetryInterval, CatalogRetryInterval);
        }
    }

    private Task RetryCatalogAsync(CancellationToken cancellationToken) =>
        Record.Exists ? UpdateCatalogAsync() : Task.CompletedTask;

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

    /// <summary>
    /// The VM as callers see it (<paramref name="full"/>: with its history and whether its host is up now), or as the
    /// catalog keeps it (no history; reachability is decided when the catalog is read).
    /// </summary>
    private VmInfo Info(bool full)
    {
        var spec = Record.Spec ?? throw FabricException.NotFound("vm", Name);
        return new VmInfo
        {
            Name = Name,
            State = Record.State,
            Host = Record.Host,
            VCpus = spec.VCpus,
            MemoryMiB = spec.MemoryMiB,
            Image = spec.Image,
            Labels = spec.Labels,
            Placement = spec.Placement,
            Reason = Record.Reason,
            Since = Record.Since,
            CreatedAt = Record.CreatedAt,
            Pid = Record.Pid,
            InstanceId = Record.InstanceId,
            Reachable = !full || hosts.IsUp(Record.Host),
            History = full ? [.. Record.History] : [],
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} created on host {Host} ({Policy})")]
    private partial void LogCreated(string vm, string host, PlacementPolicy policy);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: {From} -> {To} {Reason}")]
    private partial void LogTransition(string vm, VmState from, VmState to, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} deleted from host {Host}")]
    private partial void LogDeleted(string vm, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: catalog not updated ({Error}); retrying")]
    private partial void LogCatalogFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "VM {Vm}: its reservation on host {Host} could not be given back after a failed create: {Error}")]
    private partial void LogReleaseFailed(string vm, string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: could not ask host {Host} how an interrupted request ended: {Error}")]
    private partial void LogRefreshFailed(string vm, string host, string error);
}
