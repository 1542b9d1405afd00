using System.Collections.Immutable;
using System.Text;
using Fabric.Contracts;
using Fabric.Grains.Events;
using Fabric.Grains.Hosting;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Fabric.Hypervisor;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Fabric.Grains.Host;

/// <summary>
/// One physical host, pinned to the silo serving it. Reentrant, so a slow QEMU launch of one VM does not hold up the
/// reservations and operations of the others; every check-and-change of the reservations therefore happens without
/// an await in between (the grain runs one turn at a time), and is rolled back if persisting it fails.
/// Lifecycle calls for one VM arrive one at a time: the VM grain, their only caller, is not reentrant.
/// </summary>
[HostPinnedPlacement, Immovable, KeepAlive, Reentrant]
internal sealed partial class HostGrain(
    [PersistentState("host", FabricPersistence.Name)] IPersistentState<HostRecord> record,
    HostDrivers drivers,
    IReservationLedger ledger,
    IOptions<FabricHostOptions> options,
    FleetEventPublisher events,
    TimeProvider time,
    ILogger<HostGrain> logger) : Grain, IHostGrain
{
    /// <summary>How often a changed summary is pushed to the scheduler (changes in between are coalesced).</summary>
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the summary is pushed even unchanged, so a scheduler that moved catches up.</summary>
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, VmReservation> _reservations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _antiAffinity = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _affinity = new(StringComparer.Ordinal);
    private IHypervisorDriver _driver = null!;
    private Resources _physical = Resources.Zero;

    // Fixed for the life of the activation; every reservation's answer carries them.
    private ImmutableArray<string> _images = [];
    private ImmutableSortedDictionary<string, string> _labels = ImmutableSortedDictionary<string, string>.Empty;
    private Resources _capacity = Resources.Zero;
    private Resources _allocated = Resources.Zero;
    private long _version;
    private bool _changed;
    private DateTimeOffset _reportedAt;

    private string Name => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.HostIds.Contains(Name))
        {
            // Placement pins host grains to the silo that serves them; reaching here means a misconfigured cluster.
            throw FabricException.Unavailable($"host '{Name}' is not served by this silo");
        }

        var attached = await drivers.GetAsync(Name);
        _driver = attached.Driver;
        var facts = _driver.Facts;
        _physical = new Resources(
            options.Value.VCpus > 0 ? options.Value.VCpus : facts.Cpus,
            options.Value.MemoryMiB > 0 ? options.Value.MemoryMiB : Math.Max(0, facts.MemoryMiB - options.Value.ReservedMemoryMiB));
        _images = [.. _driver.Images.Keys.Order(StringComparer.Ordinal)];
        _labels = options.Value.Labels.ToImmutableSortedDictionary(StringComparer.Ordinal);
        _capacity = new Resources(
            (int)Math.Floor(_physical.VCpus * options.Value.CpuOvercommit),
            (long)Math.Floor(_physical.MemoryMiB * options.Value.MemoryOvercommit));

        foreach (var reservation in await ledger.LoadAsync(Name))
        {
            Add(reservation);
        }

        // Versions must keep increasing across restarts of the host, so they start from the clock.
        _version = time.GetUtcNow().UtcTicks;
        if (attached.TryClaimReconciliation())
        {
            Reconcile(attached.FoundAtStart);
        }

        LogActivated(Name, _driver.Kind, facts.Accelerator, _reservations.Count, _capacity);
        _changed = true;
        ReportIfChanged();
        this.RegisterGrainTimer(ReportIfChangedAsync, ReportInterval, ReportInterval);
    }

    Task<HostInfo> IHostGrain.GetInfo() => Task.FromResult(Summary() with
    {
        Vms = [.. _reservations.Keys.Order(StringComparer.Ordinal)],
    });

    async Task<HostInfo> IHostGrain.Reserve(VmReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        Names.Require("name", reservation.Vm);
        if (_reservations.TryGetValue(reservation.Vm, out var existing))
        {
            return existing == reservation
                ? Summary()
                : throw FabricException.Conflict($"vm '{reservation.Vm}' already holds a different reservation on host '{Name}'");
        }

        CheckImage(reservation);
        if (Refusal(reservation) is { } refusal)
        {
            throw FabricException.InsufficientCapacity($"host '{Name}': {refusal}");
        }

        Add(reservation);
        Changed();
        try
        {
            await ledger.SaveAsync(Name, reservation);
        }
        catch
        {
            Remove(reservation.Vm);
            Changed();
            throw;
        }

        return Summary();
    }

    async Task IHostGrain.Release(string vm)
    {
        if (!_reservations.ContainsKey(vm))
        {
            return;
        }

        var status = _driver.GetStatus(vm);
        if (status.IsAlive)
        {
            throw FabricException.Conflict($"vm '{vm}' still has a running process on host '{Name}' (pid {status.Pid}); stop it first");
        }

        await Driver(() => _driver.RemoveAsync(vm, CancellationToken.None));
        await ledger.RemoveAsync(Name, vm);
        Remove(vm);
        Changed();
    }

    async Task<VmObservation> IHostGrain.Launch(string vm, Guid instanceId)
    {
        var reservation = RequireReservation(vm);
        var current = _driver.GetStatus(vm);
        if (current.IsAlive)
        {
            return current.InstanceId == instanceId
                ? Observe(current)
                : throw FabricException.Conflict($"vm '{vm}' already has a running process on host '{Name}' (pid {current.Pid})");
        }

        var spec = new LaunchSpec(vm, instanceId, reservation.Resources.VCpus, (int)reservation.Resources.MemoryMiB, reservation.Image);

        // Launching forks QEMU: keep that off the grain's scheduler.
        var status = await Driver(() => Task.Run(() => _driver.LaunchAsync(spec, CancellationToken.None)));
        return Observe(status);
    }

    async Task<VmObservation> IHostGrain.Pause(string vm, Guid instanceId)
    {
        RequireInstance(vm, instanceId, "pause");
        return Observe(await Driver(() => _driver.PauseAsync(vm, CancellationToken.None)));
    }

    async Task<VmObservation> IHostGrain.Resume(string vm, Guid instanceId)
    {
        RequireInstance(vm, instanceId, "resume");
        return Observe(await Driver(() => _driver.ResumeAsync(vm, CancellationToken.None)));
    }

    async Task<VmObservation> IHostGrain.Reset(string vm, Guid instanceId)
    {
        RequireInstance(vm, instanceId, "reboot");
        return Observe(await Driver(() => _driver.ResetAsync(vm, CancellationToken.None)));
    }

    async Task<VmObservation> IHostGrain.Stop(string vm, Guid instanceId, StopOptions stop)
    {
        ArgumentNullException.ThrowIfNull(stop);
        var status = _driver.GetStatus(vm);
        if (!status.IsAlive || status.InstanceId != instanceId)
        {
            // Nothing of that instance runs here any more: report it as gone, so the VM can record Stopped.
            return new VmObservation { Host = Name, InstanceId = instanceId, Power = RuntimePower.Absent, Reason = "no process was running", At = time.GetUtcNow() };
        }

        await Driver(() => _driver.StopAsync(vm, new StopRequest(stop.Force, stop.GracePeriod), CancellationToken.None));
        return Observe(_driver.GetStatus(vm));
    }

    Task<VmObservation> IHostGrain.Observe(string vm) => Task.FromResult(Observe(_driver.GetStatus(vm)));

    async Task<ConsoleChunk> IHostGrain.ReadConsole(string vm, long offset, int maxBytes, TimeSpan wait)
    {
        RequireReservation(vm);
        var read = await Driver(() => _driver.ReadConsoleAsync(vm, offset, maxBytes, wait, CancellationToken.None));
        return new ConsoleChunk(read.Data, read.Offset, read.NextOffset, read.InstanceId == Guid.Empty ? null : read.InstanceId);
    }

    async Task IHostGrain.SendConsole(string vm, Guid instanceId, string text)
    {
        RequireInstance(vm, instanceId, "type into the console of");
        await Driver(() => _driver.SendConsoleAsync(vm, Encoding.UTF8.GetBytes(text), CancellationToken.None));
    }

    Task<HostInfo> IHostGrain.Cordon() => SetCordonedAsync(true);

    Task<HostInfo> IHostGrain.Uncordon() => SetCordonedAsync(false);

    Task IHostGrain.ReportRuntime(string vm, VmObservation observation)
    {
        if (_reservations.ContainsKey(vm))
        {
            return GrainFactory.GetGrain<IVmGrain>(vm).Observe(observation);
        }

        LogUnreservedProcess(Name, vm, observation.Power);
        return Task.CompletedTask;
    }

    private async Task<HostInfo> SetCordonedAsync(bool cordoned)
    {
        if (record.State.Cordoned == cordoned)
        {
            return Summary();
        }

        var before = Summary().State;
        record.State.Cordoned = cordoned;
        await record.WriteStateAsync();
        Changed();
        ReportIfChanged();
        var summary = Summary();
        await events.PublishAsync(new FleetEvent
        {
            Kind = FleetEventKind.HostStateChanged,
            At = time.GetUtcNow(),
            Host = Name,
            From = before.ToString(),
            To = summary.State.ToString(),
        });
        return summary;
    }

    /// <summary>After a silo restart, tells each VM what its process looks like now, and the host about processes it does not expect.</summary>
    private void Reconcile(IReadOnlyList<ProcessStatus> found)
    {
        var now = time.GetUtcNow();
        foreach (var vm in _reservations.Keys)
        {
            var status = _driver.GetStatus(vm);
            GrainFactory.GetGrain<IVmGrain>(vm).Observe(status.ToObservation(Name, now)).Ignore();
        }

        foreach (var status in found.Where(s => s.IsAlive && !_reservations.ContainsKey(s.Vm)))
        {
            LogUnreservedProcess(Name, status.Vm, status.Power.ToRuntime());
        }
    }

    private void CheckImage(VmReservation reservation)
    {
        if (!_driver.Images.TryGetValue(reservation.Image, out var image))
        {
            var available = string.Join(", ", _driver.Images.Keys.Order(StringComparer.Ordinal));
            throw FabricException.InvalidSpec("image", $"unknown image '{reservation.Image}' on host '{Name}' (available: {available})");
        }

        if (reservation.Resources.MemoryMiB < image.MinMemoryMiB)
        {
            throw FabricException.InvalidSpec("memory", $"image '{image.Name}' needs at least {Sizes.FormatMiB(image.MinMemoryMiB)}; {Sizes.FormatMiB(reservation.Resources.MemoryMiB)} was asked");
        }
    }

    /// <summary>Why this host cannot take the reservation right now, or null when it can.</summary>
    private string? Refusal(VmReservation reservation)
    {
        if (record.State.Cordoned)
        {
            return "cordoned";
        }

        if (reservation.AntiAffinityGroup is { } group && _antiAffinity.ContainsKey(group))
        {
            return $"anti-affinity group '{group}' already has a VM here";
        }

        var free = _capacity - _allocated;
        if (!_allocated.Fits(reservation.Resources, _capacity))
        {
            return $"needs {reservation.Resources}, {free} free of {_capacity}";
        }

        return null;
    }

    private void Add(VmReservation reservation)
    {
        // Images are a small set: share their names across the host's (possibly thousands of) reservations.
        reservation = reservation with { Image = string.Intern(reservation.Image) };
        _reservations[reservation.Vm] = reservation;
        _allocated += reservation.Resources;
        Count(_antiAffinity, reservation.AntiAffinityGroup, +1);
        Count(_affinity, reservation.AffinityGroup, +1);
    }

    private void Remove(string vm)
    {
        if (_reservations.Remove(vm, out var reservation))
        {
            _allocated -= reservation.Resources;
            Count(_antiAffinity, reservation.AntiAffinityGroup, -1);
            Count(_affinity, reservation.AffinityGroup, -1);
        }
    }

    private static void Count(Dictionary<string, int> groups, string? group, int delta)
    {
        if (group is null)
        {
            return;
        }

        var count = groups.GetValueOrDefault(group) + delta;
        if (count > 0)
        {
            groups[group] = count;
        }
        else
        {
            groups.Remove(group);
        }
    }

    private VmReservation RequireReservation(string vm) =>
        _reservations.TryGetValue(vm, out var reservation)
            ? reservation
            : throw new FabricException(ErrorCodes.NotFound, $"vm '{vm}' has no reservation on host '{Name}'");

    private void RequireInstance(string vm, Guid instanceId, string action)
    {
        RequireReservation(vm);
        var status = _driver.GetStatus(vm);
        if (!status.IsAlive || status.InstanceId != instanceId)
        {
            throw FabricException.Conflict($"vm '{vm}' has no running process on host '{Name}'; cannot {action} it");
        }
    }

    private VmObservation Observe(ProcessStatus status) => status.ToObservation(Name, time.GetUtcNow());

    private void Changed()
    {
        _version++;
        _changed = true;
    }

    private Task ReportIfChangedAsync(CancellationToken cancellationToken)
    {
        ReportIfChanged();
        return Task.CompletedTask;
    }

    private void ReportIfChanged()
    {
        var now = time.GetUtcNow();
        if (!_changed && now - _reportedAt < HeartbeatInterval)
        {
            return;
        }

        _changed = false;
        _reportedAt = now;
        GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).ReportHost(Summary()).Ignore();
    }

    private HostInfo Summary() => new()
    {
        Name = Name,
        State = record.State.Cordoned ? HostState.Cordoned : HostState.Ready,
        Capacity = _capacity,
        Allocated = _allocated,
        VmCount = _reservations.Count,
        Physical = _physical,
        CpuOvercommit = options.Value.CpuOvercommit,
        MemoryOvercommit = options.Value.MemoryOvercommit,
        Accelerator = _driver.Facts.Accelerator,
        AcceleratorReason = _driver.Facts.AcceleratorReason,
        HypervisorVersion = _driver.Facts.HypervisorVersion,
        Driver = _driver.Kind,
        Images = _images,
        Labels = _labels,
        AntiAffinityGroups = [.. _antiAffinity.Keys.Order(StringComparer.Ordinal)],
        AffinityGroups = [.. _affinity.Keys.Order(StringComparer.Ordinal)],
        Version = _version,
        ReportedAt = time.GetUtcNow(),
        Silo = RuntimeIdentity,
    };

    /// <summary>Runs a driver call, translating its failures into the fabric's error codes.</summary>
    private static async Task<T> Driver<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (HypervisorException ex)
        {
            throw ex.ToFabric();
        }
    }

    private static async Task Driver(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (HypervisorException ex)
        {
            throw ex.ToFabric();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host} active: driver {Driver} ({Accelerator}), {Reservations} reservations, capacity {Capacity}")]
    private partial void LogActivated(string host, string driver, string accelerator, int reservations, Resources capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: process of vm {Vm} ({Power}) has no reservation here; left alone")]
    private partial void LogUnreservedProcess(string host, string vm, RuntimePower power);
}
