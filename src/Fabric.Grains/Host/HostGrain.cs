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
/// One physical host, pinned to the silo serving it. It keeps the host's ledger (one entry per VM placed here: epoch,
/// accepted instance, and whether the placement was fenced), drives the VMs' processes through the driver, and reports
/// to each VM what it holds for it — on every change, and in a regular digest, so a lost report only delays.
/// Reentrant, so a slow QEMU launch of one VM does not hold up the others; every check-and-change of the ledger
/// happens without an await in between (the grain runs one turn at a time), and is persisted before it is acted on
/// and rolled back in memory if persisting fails.
/// </summary>
[HostPinnedPlacement, Immovable, KeepAlive, Reentrant]
internal sealed partial class HostGrain(
    HostDrivers drivers,
    IReservationLedger ledger,
    IHostRegistry registry,
    IOptions<FabricHostOptions> options,
    IOptions<ReconcileOptions> reconcile,
    ILocalSiloDetails silo,
    FleetEventPublisher events,
    TimeProvider time,
    ILogger<HostGrain> logger) : Grain, IHostGrain
{
    /// <summary>How often a changed summary is pushed to the scheduler (changes in between are coalesced).</summary>
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the summary is pushed even unchanged, so a scheduler that moved catches up.</summary>
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, LedgerEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _antiAffinity = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _affinity = new(StringComparer.Ordinal);

    /// <summary>Launches under way (in this activation), by VM: the instance being launched.</summary>
    private readonly Dictionary<string, Guid> _launching = new(StringComparer.Ordinal);

    /// <summary>Launches that failed (in this activation), by VM: the instance and why.</summary>
    private readonly Dictionary<string, (Guid Instance, string Reason)> _launchFailures = new(StringComparer.Ordinal);

    /// <summary>What was last reported to each VM, so the digest sends changes at once and the rest slice by slice.</summary>
    private readonly Dictionary<string, ReportedState> _reported = new(StringComparer.Ordinal);

    private IHypervisorDriver _driver = null!;
    private IGuestConsole? _console;
    private HostRow _row = new();
    private ImmutableArray<UnmanagedProcess> _unmanaged = [];
    private long _counter;
    private long _digestRound;

    // Fixed for the life of the activation; every reservation's answer carries them.
    private ImmutableArray<string> _images = [];
    private ImmutableSortedDictionary<string, string> _labels = ImmutableSortedDictionary<string, string>.Empty;
    private Resources _physical = Resources.Zero;
    private Resources _capacity = Resources.Zero;
    private Resources _allocated = Resources.Zero;
    private long _allocatedOverheadMiB;
    private MemoryOverhead _overhead = MemoryOverhead.None;
    private string _address = "";
    private HostSequence _summarySequence;
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

        _driver = drivers.Get(Name);
        _console = _driver.Capability<IGuestConsole>();
        _overhead = new MemoryOverhead(_driver.MemoryOverhead.BaseMiB, _driver.MemoryOverhead.PerVCpuMiB, _driver.MemoryOverhead.PerGiBMiB);
        var facts = _driver.Facts;
        _physical = new Resources(
            options.Value.VCpus > 0 ? options.Value.VCpus : facts.Cpus,
            options.Value.MemoryMiB > 0 ? options.Value.MemoryMiB : Math.Max(0, facts.MemoryMiB - options.Value.ReservedMemoryMiB));
        _images = [.. _driver.Images.Keys.Order(StringComparer.Ordinal)];
        _labels = options.Value.Labels.ToImmutableSortedDictionary(StringComparer.Ordinal);
        _capacity = new Resources(
            (int)Math.Floor(_physical.VCpus * options.Value.CpuOvercommit),
            (long)Math.Floor(_physical.MemoryMiB * options.Value.MemoryOvercommit));
        _address = silo.SiloAddress.Endpoint.Address.ToString();

        // A new incarnation before anything is reported: every sequence of this activation orders after the last one's.
        var row = await registry.GetAsync(Name) ?? new HostRow();
        _row = row with { Incarnation = row.Incarnation + 1, Address = _address };
        await registry.SaveAsync(Name, _row);

        foreach (var entry in await ledger.LoadAsync(Name))
        {
            Add(entry);
        }

        RefreshUnmanaged();
        LogActivated(Name, _driver.Kind, facts.Accelerator, _entries.Count, _capacity, _row.Incarnation);
        Changed();
        ReportIfChanged();
        this.RegisterGrainTimer(ReportIfChangedAsync, ReportInterval, ReportInterval);

        // The first digest runs at once and reports to every VM: what the driver found at start-up settles them all.
        this.RegisterGrainTimer(DigestAsync, TimeSpan.Zero, reconcile.Value.DigestInterval);
        if (Networks is not null)
        {
            this.RegisterGrainTimer(ReconcileNetworksAsync, TimeSpan.Zero, NetworkReconcileInterval);
        }
    }

    Task<HostInfo> IHostGrain.GetInfo() => Task.FromResult(Summary() with
    {
        Vms = [.. _entries.Values.Where(e => e.Fenced is null).Select(e => e.Vm).Order(StringComparer.Ordinal)],
        Unmanaged = _unmanaged,
        Networks = _realizedNetworks,
    });

    async Task<HostInfo> IHostGrain.Reserve(VmReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        Names.Require("name", reservation.Vm);
        var vm = reservation.Vm;
        if (_unmanaged.FirstOrDefault(p => p.Vm == vm) is { } unmanaged)
        {
            throw FabricException.Conflict($"vm '{vm}' has an unmanaged QEMU process on host '{Name}' (pid {unmanaged.Pid}) that no record places here; it is left alone until an operator ends it");
        }

        var entry = LedgerEntry.From(reservation);
        var replaced = _entries.GetValueOrDefault(vm);
        if (replaced is not null)
        {
            if (replaced.Epoch == entry.Epoch)
            {
                return replaced.SameReservation(entry)
                    ? Summary()
                    : throw FabricException.Conflict($"vm '{vm}' already holds a different reservation on host '{Name}' at epoch {entry.Epoch}");
            }

            if (replaced.Epoch > entry.Epoch)
            {
                throw StaleEpoch(vm, replaced.Epoch, entry.Epoch);
            }

            // An older placement of the same name is superseded by this one (epochs never repeat): it must be gone first.
            if (HasProcess(vm))
            {
                await FenceEntryAsync(replaced, $"superseded by a new placement at epoch {entry.Epoch}");
                throw FabricException.Conflict($"vm '{vm}' still has a process of an older placement on host '{Name}' (epoch {replaced.Epoch}); it is being stopped, try again shortly");
            }
        }

        CheckImage(reservation);
        if (replaced is not null)
        {
            Remove(vm);
        }

        if (Refusal(reservation) is { } refusal)
        {
            if (replaced is not null)
            {
                Add(replaced);
            }

            throw FabricException.InsufficientCapacity($"host '{Name}': {refusal}");
        }

        Add(entry);
        Changed();
        try
        {
            await ledger.SaveAsync(Name, entry);
        }
        catch (Exception ex)
        {
            Remove(vm);
            if (replaced is not null)
            {
                Add(replaced);
            }

            Changed();
            throw Unwritten(vm, ex);
        }

        _reported.Remove(vm);
        if (replaced is not null)
        {
            await Driver(() => _driver.RemoveAsync(vm, CancellationToken.None));
        }

        return Summary();
    }

    async Task IHostGrain.Release(string vm, long epoch)
    {
        if (!_entries.TryGetValue(vm, out var entry) || entry.Epoch != epoch || entry.Fenced is not null)
        {
            return;
        }

        if (HasProcess(vm))
        {
            throw FabricException.Conflict($"vm '{vm}' still has a running process on host '{Name}' (pid {_driver.GetStatus(vm).Pid}); stop it first");
        }

        await ForgetAsync(vm);
    }

    async Task IHostGrain.Fence(string vm, long epoch, string reason)
    {
        if (_entries.TryGetValue(vm, out var entry) && entry.Epoch <= epoch)
        {
            await FenceEntryAsync(entry, reason);
        }
    }

    async Task<VmObservation> IHostGrain.Launch(VmAssignment assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var entry = RequireEntry(assignment);
        var vm = assignment.Vm;
        var status = _driver.GetStatus(vm);
        if (status.IsAlive)
        {
            return status.InstanceId == assignment.InstanceId
                ? Observe(vm)
                : throw FabricException.Conflict($"vm '{vm}' already has a running process on host '{Name}' (pid {status.Pid}, instance {status.InstanceId})");
        }

        if (_launching.TryGetValue(vm, out var launching))
        {
            return launching == assignment.InstanceId
                ? Observe(vm)
                : throw FabricException.Conflict($"vm '{vm}': a launch of another instance ({launching}) is under way on host '{Name}'");
        }

        if (entry.InstanceId == assignment.InstanceId)
        {
            // Accepted before (then launched, failed or lost in a crash): an instance is launched at most once.
            return Observe(vm);
        }

        await SaveAsync(entry with { InstanceId = assignment.InstanceId });
        _launchFailures.Remove(vm);
        _launching[vm] = assignment.InstanceId;
        try
        {
            var spec = await LaunchSpecAsync(entry, assignment.InstanceId);

            // Launching forks QEMU and waits for it: keep that off the grain's scheduler.
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
        }

        return Observe(vm);
    }

    async Task<VmObservation> IHostGrain.Pause(VmAssignment assignment)
    {
        RequireRunning(assignment, "pause");
        await Driver(() => _driver.PauseAsync(assignment.Vm, CancellationToken.None));
        return Observe(assignment.Vm);
    }

    async Task<VmObservation> IHostGrain.Resume(VmAssignment assignment)
    {
        RequireRunning(assignment, "resume");
        await Driver(() => _driver.ResumeAsync(assignment.Vm, CancellationToken.None));
        return Observe(assignment.Vm);
    }

    async Task<VmObservation> IHostGrain.Reset(VmAssignment assignment)
    {
        RequireRunning(assignment, "reboot");
        await Driver(() => _driver.ResetAsync(assignment.Vm, CancellationToken.None));
        return Observe(assignment.Vm);
    }

    async Task<VmObservation> IHostGrain.Stop(VmAssignment assignment, StopOptions stop)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        ArgumentNullException.ThrowIfNull(stop);
        RequireEntry(assignment);
        var status = _driver.GetStatus(assignment.Vm);
        if (status.IsAlive && status.InstanceId == assignment.InstanceId)
        {
            await Driver(() => _driver.StopAsync(assignment.Vm, new StopRequest(stop.Force, stop.GracePeriod), CancellationToken.None));
        }

        // Not running (ended, or a launch still under way): the report says so, and the VM asks again if need be.
        return Observe(assignment.Vm);
    }

    Task<VmObservation> IHostGrain.Observe(string vm) => Task.FromResult(Observe(vm));

    async Task<ConsoleChunk> IHostGrain.ReadConsole(string vm, long offset, int maxBytes, TimeSpan wait)
    {
        if (!_entries.ContainsKey(vm))
        {
            throw new FabricException(ErrorCodes.NotFound, $"vm '{vm}' has no reservation on host '{Name}'");
        }

        var read = await Driver(() => RequireConsole().ReadConsoleAsync(vm, offset, maxBytes, wait, CancellationToken.None));
        return new ConsoleChunk(read.Data, read.Offset, read.NextOffset, read.InstanceId == Guid.Empty ? null : read.InstanceId);
    }

    async Task IHostGrain.SendConsole(VmAssignment assignment, string text)
    {
        RequireRunning(assignment, "type into the console of");
        await Driver(() => RequireConsole().SendConsoleAsync(assignment.Vm, Encoding.UTF8.GetBytes(text), CancellationToken.None));
    }

    Task<HostInfo> IHostGrain.Cordon() => SetCordonedAsync(true);

    Task<HostInfo> IHostGrain.Uncordon() => SetCordonedAsync(false);

    async Task IHostGrain.ProcessChanged(string vm)
    {
        if (!_entries.TryGetValue(vm, out var entry))
        {
            RefreshUnmanaged();
            return;
        }

        if (entry.Fenced is not null)
        {
            await EnforceFenceAsync(vm);
            return;
        }

        Report(vm, ObserveState(vm));
    }

    private async Task<HostInfo> SetCordonedAsync(bool cordoned)
    {
        if (_row.Cordoned == cordoned)
        {
            return Summary();
        }

        var before = Summary().State;
        var next = _row with { Cordoned = cordoned };
        try
        {
            await registry.SaveAsync(Name, next);
        }
        catch (Exception ex)
        {
            throw FabricException.Unavailable($"host '{Name}': its settings could not be written ({ex.Message}); nothing was changed");
        }

        _row = next;
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

    /// <summary>
    /// The regular, level-triggered report: to every VM whose process changed since it last heard, and to one slice of
    /// the others (every VM hears at least once per full round); fenced placements are driven on; processes of a
    /// placement other than the ledger's are stopped; unmanaged processes are looked for again.
    /// </summary>
    private async Task DigestAsync(CancellationToken cancellationToken)
    {
        var slices = reconcile.Value.DigestSlices;
        var round = _digestRound++;
        var fenced = new List<string>();
        foreach (var (vm, entry) in _entries)
        {
            if (entry.Fenced is not null)
            {
                fenced.Add(vm);
                continue;
            }

            var current = ObserveState(vm);
            var inSlice = round == 0 || (uint)StringComparer.Ordinal.GetHashCode(vm) % slices == round % slices;
            if (inSlice || !_reported.TryGetValue(vm, out var last) || last != current)
            {
                Report(vm, current);
            }

            // A slot whose migration ended while this host was away is given back by its coordinator.
            if ((entry.Outgoing ?? entry.Incoming) is { } migration)
            {
                GrainFactory.GetGrain<IMigrationGrain>(vm).SlotHeld(Name, entry.Epoch, migration).Ignore();
            }
        }

        foreach (var status in _driver.List())
        {
            if (status.IsAlive && _entries.TryGetValue(status.Vm, out var entry) && entry.Fenced is null && entry.Epoch != status.Epoch)
            {
                LogStaleProcess(Name, status.Vm, status.Epoch, entry.Epoch, status.Pid ?? 0);
                await StopQuietlyAsync(status.Vm);
            }
        }

        foreach (var vm in fenced)
        {
            try
            {
                await EnforceFenceAsync(vm);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogFenceFailed(Name, vm, ex.Message);
            }
        }

        RefreshUnmanaged();
    }

    /// <summary>Marks a placement superseded (persisted first: a fence survives a restart), then stops its process.</summary>
    private async Task FenceEntryAsync(LedgerEntry entry, string reason)
    {
        if (entry.Fenced is null)
        {
            var fenced = entry with { Fenced = reason };
            await SaveAsync(fenced);
            LogFenced(Name, entry.Vm, entry.Epoch, reason);
        }

        await EnforceFenceAsync(entry.Vm);
    }

    /// <summary>A fenced placement: stop its process (forced); once no process is left, remove its files and its entry.</summary>
    private async Task EnforceFenceAsync(string vm)
    {
        if (!_entries.TryGetValue(vm, out var entry) || entry.Fenced is null || _launching.ContainsKey(vm))
        {
            return; // A launch under way is fenced when it completes.
        }

        if (_driver.GetStatus(vm).IsAlive)
        {
            await StopQuietlyAsync(vm);
            return; // Its exit comes back as a process change, which finishes the fence.
        }

        await ForgetAsync(vm);
        LogFenceCompleted(Name, vm, entry.Epoch);
    }

    /// <summary>Removes a VM whose process is gone: its runtime files, then its ledger entry.</summary>
    private async Task ForgetAsync(string vm)
    {
        await Driver(() => _driver.RemoveAsync(vm, CancellationToken.None));
        try
        {
            await ledger.RemoveAsync(Name, vm);
        }
        catch (Exception ex)
        {
            throw Unwritten(vm, ex);
        }

        Remove(vm);
        _reported.Remove(vm);
        _launchFailures.Remove(vm);
        Changed();
    }

    private async Task StopQuietlyAsync(string vm)
    {
        try
        {
            await _driver.StopAsync(vm, new StopRequest(Force: true, TimeSpan.Zero), CancellationToken.None);
        }
        catch (HypervisorException ex)
        {
            LogFenceFailed(Name, vm, ex.Message);
        }
    }

    /// <summary>Writes an entry, and only then holds it in memory (so allocation follows what is stored).</summary>
    private async Task SaveAsync(LedgerEntry entry)
    {
        try
        {
            await ledger.SaveAsync(Name, entry);
        }
        catch (Exception ex)
        {
            throw Unwritten(entry.Vm, ex);
        }

        var previous = _entries.GetValueOrDefault(entry.Vm);
        Remove(entry.Vm);
        Add(entry);
        if (previous is null || (previous.Fenced is null) != (entry.Fenced is null))
        {
            Changed(); // Allocation moved (a fence frees capacity); an accepted instance changes nothing the scheduler sees.
        }
    }

    private FabricException Unwritten(string vm, Exception ex) =>
        FabricException.Unavailable($"host '{Name}': the ledger entry of vm '{vm}' could not be written ({ex.Message}); nothing was changed");

    private bool HasProcess(string vm) => _launching.ContainsKey(vm) || _driver.GetStatus(vm).IsAlive;

    private void RefreshUnmanaged()
    {
        var unmanaged = _driver.List()
            .Where(s => s.IsAlive && !_entries.ContainsKey(s.Vm))
            .Select(s => new UnmanagedProcess(s.Vm, s.Pid, s.Epoch, s.InstanceId))
            .OrderBy(p => p.Vm, StringComparer.Ordinal)
            .ToImmutableArray();
        foreach (var process in unmanaged.Where(p => !_unmanaged.Contains(p)))
        {
            LogUnmanaged(Name, process.Vm, process.Pid ?? 0, process.Epoch);
        }

        _unmanaged = unmanaged;
    }

    /// <summary>What the host holds for <paramref name="vm"/>: its entry's epoch and instance, and how that instance's process stands.</summary>
    private ReportedState ObserveState(string vm)
    {
        var entry = _entries.GetValueOrDefault(vm);
        var status = _driver.GetStatus(vm);
        var epoch = entry?.Epoch ?? status.Epoch;
        var instance = entry?.InstanceId ?? status.InstanceId;
        if (_launching.TryGetValue(vm, out var launching) && launching == instance)
        {
            return new ReportedState(epoch, instance, RuntimePower.Launching, null, null);
        }

        if (instance != Guid.Empty && status.InstanceId == instance && status.Power != ProcessPower.Absent)
        {
            return new ReportedState(epoch, instance, status.Power.ToRuntime(), status.Pid, status.Reason);
        }

        if (_launchFailures.TryGetValue(vm, out var failure) && failure.Instance == instance)
        {
            return new ReportedState(epoch, instance, RuntimePower.Crashed, null, $"the launch failed: {failure.Reason}");
        }

        return new ReportedState(epoch, instance, RuntimePower.Absent, null, instance == Guid.Empty ? null : $"host '{Name}' has no process of this instance");
    }

    private VmObservation Observe(string vm) => Stamp(vm, ObserveState(vm));

    private VmObservation Stamp(string vm, ReportedState state) => new()
    {
        Vm = vm,
        Host = Name,
        Epoch = state.Epoch,
        InstanceId = state.InstanceId,
        Power = state.Power,
        Pid = state.Pid,
        Reason = state.Reason,
        Sequence = NextSequence(),
    };

    /// <summary>Reports to the VM one-way: a host never waits on a VM.</summary>
    private void Report(string vm, ReportedState state)
    {
        _reported[vm] = state;
        GrainFactory.GetGrain<IVmGrain>(vm).Observe(Stamp(vm, state)).Ignore();
    }

    private HostSequence NextSequence() => new(_row.Incarnation, ++_counter);

    private LedgerEntry RequireEntry(VmAssignment assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        if (assignment.Host != Name)
        {
            throw FabricException.Conflict($"vm '{assignment.Vm}': the request is for host '{assignment.Host}', not '{Name}'");
        }

        if (!_entries.TryGetValue(assignment.Vm, out var entry))
        {
            throw new FabricException(ErrorCodes.NotFound, $"vm '{assignment.Vm}' has no reservation on host '{Name}'");
        }

        if (entry.Epoch != assignment.Epoch)
        {
            throw StaleEpoch(assignment.Vm, entry.Epoch, assignment.Epoch);
        }

        return entry.Fenced is { } why
            ? throw FabricException.Conflict($"vm '{assignment.Vm}': its placement on host '{Name}' (epoch {entry.Epoch}) is superseded: {why}")
            : entry;
    }

    private void RequireRunning(VmAssignment assignment, string action)
    {
        RequireEntry(assignment);
        var status = _driver.GetStatus(assignment.Vm);
        if (!status.IsAlive || status.InstanceId != assignment.InstanceId)
        {
            throw FabricException.Conflict($"vm '{assignment.Vm}' has no running process of instance {assignment.InstanceId} on host '{Name}'; cannot {action} it");
        }
    }

    private FabricException StaleEpoch(string vm, long held, long asked) =>
        FabricException.Conflict($"vm '{vm}': host '{Name}' holds its placement at epoch {held}; a request at epoch {asked} is stale");

    private IGuestConsole RequireConsole() =>
        _console ?? throw FabricException.Conflict($"host '{Name}': its {_driver.Kind} driver has no serial console");

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
        if (_row.Cordoned)
        {
            return "cordoned";
        }

        if (reservation.AntiAffinityGroup is { } group && _antiAffinity.ContainsKey(group))
        {
            return $"anti-affinity group '{group}' already has a VM here";
        }

        if (!_allocated.Fits(_overhead.Charge(reservation.Resources), _capacity))
        {
            return $"needs {_overhead.Describe(reservation.Resources)}, {_capacity - _allocated} free of {_capacity}";
        }

        if (reservation.IncomingMigration is not null && MigrationCount(incoming: true) >= options.Value.MaxIncomingMigrations)
        {
            return $"{MigrationLimits.IncomingSlotsFull} ({options.Value.MaxIncomingMigrations} under way)";
        }

        return null;
    }

    /// <summary>Holds an entry in memory; a fenced one holds no capacity and no group membership.</summary>
    private void Add(LedgerEntry entry)
    {
        // Images are a small set: share their names across the host's (possibly thousands of) entries.
        entry = entry with { Image = string.Intern(entry.Image) };
        _entries[entry.Vm] = entry;
        if (entry.Fenced is null)
        {
            _allocated += _overhead.Charge(entry.Resources);
            _allocatedOverheadMiB += _overhead.MiB(entry.Resources.VCpus, entry.Resources.MemoryMiB);
            Count(_antiAffinity, entry.AntiAffinityGroup, +1);
            Count(_affinity, entry.AffinityGroup, +1);
        }
    }

    private void Remove(string vm)
    {
        if (_entries.Remove(vm, out var entry) && entry.Fenced is null)
        {
            _allocated -= _overhead.Charge(entry.Resources);
            _allocatedOverheadMiB -= _overhead.MiB(entry.Resources.VCpus, entry.Resources.MemoryMiB);
            Count(_antiAffinity, entry.AntiAffinityGroup, -1);
            Count(_affinity, entry.AffinityGroup, -1);
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

    private void Changed()
    {
        _summarySequence = NextSequence();
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
        State = _row.Cordoned ? HostState.Cordoned : HostState.Ready,
        Capacity = _capacity,
        Allocated = _allocated,
        MemoryOverhead = _overhead,
        AllocatedOverheadMiB = _allocatedOverheadMiB,
        VmCount = _entries.Count - _entries.Values.Count(e => e.Fenced is not null),
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
        Sequence = _summarySequence,
        ReportedAt = time.GetUtcNow(),
        Silo = RuntimeIdentity,
        Address = _address,
        Machine = options.Value.MachineId,
        Networking = Networks is not null,
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

    /// <summary>What a host last reported to a VM (without the sequence that stamps each report).</summary>
    private readonly record struct ReportedState(long Epoch, Guid InstanceId, RuntimePower Power, int? Pid, string? Reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host} active: driver {Driver} ({Accelerator}), {Entries} ledger entries, capacity {Capacity}, incarnation {Incarnation}")]
    private partial void LogActivated(string host, string driver, string accelerator, int entries, Resources capacity, long incarnation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: QEMU process of vm {Vm} (pid {Pid}, epoch {Epoch}) has no ledger entry here: unmanaged, left alone")]
    private partial void LogUnmanaged(string host, string vm, int pid, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: fencing vm {Vm} at epoch {Epoch}: {Reason}")]
    private partial void LogFenced(string host, string vm, long epoch, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: fence of vm {Vm} (epoch {Epoch}) complete: no process left, entry removed")]
    private partial void LogFenceCompleted(string host, string vm, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: fencing vm {Vm} failed for now: {Error}")]
    private partial void LogFenceFailed(string host, string vm, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: process of vm {Vm} runs at epoch {ProcessEpoch} but the ledger holds epoch {LedgerEpoch}; stopping pid {Pid}")]
    private partial void LogStaleProcess(string host, string vm, long processEpoch, long ledgerEpoch, int pid);
}
