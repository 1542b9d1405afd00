using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Events;
using Fabric.Grains.Hosting;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Fabric.Grains.Scheduling;

/// <summary>
/// The fleet's single placement authority and inventory. One activation sees every placement, so reservations in flight
/// are counted against their host at once and concurrent creates spread (or pack) as asked; it is reentrant, so the
/// reservation calls to hosts overlap. A host grain still checks and reserves atomically itself, so even a stale view
/// here can never over-commit a host: a refused reservation just moves on to the next candidate.
/// </summary>
[Reentrant, KeepAlive]
internal sealed partial class SchedulerGrain(
    [PersistentState("inventory", FabricPersistence.Name)] IPersistentState<InventoryRecord> inventory,
    HostDirectory directory,
    IVmCatalog catalog,
    IReservationLedger ledger,
    IHostRegistry registry,
    IOptions<SchedulerOptions> options,
    FleetEventPublisher events,
    TimeProvider time,
    ILogger<SchedulerGrain> logger) : Grain, ISchedulerGrain
{
    private static readonly TimeSpan LivenessCheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, HostView> _hosts = new(StringComparer.Ordinal);
    private DateTimeOffset _lastWrite;
    private bool _inventoryChanged;
    private bool _writing;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var (name, row) in inventory.State.Hosts)
        {
            _hosts[name] = new HostView(row.ToInfo(name), directory.IsUp(name));
        }

        // The stored inventory may be seconds old (this activation may have moved after a silo died): ask the live
        // hosts for their current summary before placing anything, rather than wait for their next heartbeat.
        await Task.WhenAll(_hosts.Keys.Where(directory.IsUp).Select(RefreshAsync));
        this.RegisterGrainTimer(CheckHostsAsync, LivenessCheckInterval, LivenessCheckInterval);
    }

    private async Task RefreshAsync(string host)
    {
        try
        {
            Update(await GrainFactory.GetGrain<IHostGrain>(host).GetInfo().WaitAsync(RefreshTimeout));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRefreshFailed(host, ex.Message);
        }
    }

    async Task<PlacementDecision> ISchedulerGrain.Place(PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var reservation = request.Reservation;
        var plan = PlacementEngine.Plan(Candidates(), request, options.Value.DefaultPolicy);
        var refusals = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var hostName in plan.Candidates)
        {
            var view = _hosts[hostName];

            // The view may have changed while an earlier candidate was tried.
            var effective = view.Effective;
            if (!effective.Allocated.Fits(effective.MemoryOverhead.Charge(reservation.Resources), effective.Capacity))
            {
                refusals[hostName] = $"needs {effective.MemoryOverhead.Describe(reservation.Resources)}, {effective.Free} free";
                continue;
            }

            view.AddPending(reservation);
            try
            {
                var summary = await GrainFactory.GetGrain<IHostGrain>(hostName).Reserve(reservation);
                Update(summary);
                LogPlaced(reservation.Vm, hostName, plan.Policy, plan.Candidates.Length);
                return new PlacementDecision(hostName, plan.Policy, plan.Candidates.Length);
            }
            catch (FabricException ex) when (ex.Code is ErrorCodes.InsufficientCapacity)
            {
                refusals[hostName] = ex.Message.StartsWith($"host '{hostName}': ", StringComparison.Ordinal)
                    ? ex.Message[$"host '{hostName}': ".Length..]
                    : ex.Message;
            }
            catch (TimeoutException)
            {
                // The host may have reserved before the answer was lost; the VM has no record yet, so take it back.
                GrainFactory.GetGrain<IHostGrain>(hostName).Release(reservation.Vm, reservation.Epoch).Ignore();
                throw FabricException.Unavailable($"host '{hostName}' did not answer the reservation of vm '{reservation.Vm}' in time");
            }
            catch (Exception ex) when (ex is FabricException { Code: ErrorCodes.Unavailable } or SiloUnavailableException or OrleansMessageRejectionException)
            {
                // Refused before it reached the host: nothing was reserved there.
                refusals[hostName] = $"unreachable ({ex.Message})";
            }
            finally
            {
                view.RemovePending(reservation);
            }
        }

        var reasons = PlacementEngine.Exclusions(Candidates(), request);
        foreach (var (host, refusal) in refusals)
        {
            reasons[host] = refusal;
        }

        throw PlacementEngine.NoHost(reservation, reasons);
    }

    async Task ISchedulerGrain.ReportHost(HostInfo host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Update(host))
        {
            // A host that joined must stay listed (as Down if need be) even if this activation dies right away.
            await WriteInventoryAsync(CancellationToken.None);
        }
    }

    async Task ISchedulerGrain.Forget(string host)
    {
        Names.Require("host", host);
        if (!_hosts.ContainsKey(host) && await registry.MachineOfAsync(host) is null)
        {
            throw FabricException.NotFound("host", host);
        }

        if (directory.IsUp(host))
        {
            throw FabricException.Conflict($"host '{host}' is up (its silo runs); stop its silo first, then forget it");
        }

        var placed = (await catalog.ListAsync(LabelSelector.Everything)).Where(vm => vm.Host == host).Select(vm => vm.Name).ToList();
        if (placed.Count > 0)
        {
            throw FabricException.Conflict($"host '{host}' still has {placed.Count} VM(s) placed on it ({string.Join(", ", placed.Take(10))}{(placed.Count > 10 ? ", …" : "")}); delete them first ('vm delete --force' works while the host is Down)");
        }

        await ledger.DeleteAsync(host);
        await registry.ForgetAsync(host);
        if (_hosts.Remove(host))
        {
            _inventoryChanged = true;
            await WriteInventoryAsync(CancellationToken.None);
        }

        LogHostForgotten(host);
    }

    Task<ImmutableArray<HostInfo>> ISchedulerGrain.ListHosts() =>
        Task.FromResult(_hosts.Values.Select(Shown).OrderBy(h => h.Name, StringComparer.Ordinal).ToImmutableArray());

    Task<HostInfo?> ISchedulerGrain.GetHost(string host) =>
        Task.FromResult(_hosts.TryGetValue(host, out var view) ? Shown(view) : null);

    private HostInfo Shown(HostView view) =>
        directory.SiloOf(view.Reported.Name) is { } silo
            ? view.Reported with { Silo = silo.ToParsableString() }
            : view.Reported with { State = HostState.Down, Silo = "" };

    private List<HostCandidate> Candidates()
    {
        var candidates = new List<HostCandidate>(_hosts.Count);
        foreach (var view in _hosts.Values)
        {
            candidates.Add(view.Candidate(directory.IsUp(view.Reported.Name)));
        }

        return candidates;
    }

    /// <summary>Takes a host's summary if it is newer than the one held; true when the host is new to the inventory.</summary>
    private bool Update(HostInfo host)
    {
        if (!_hosts.TryGetValue(host.Name, out var view))
        {
            _hosts[host.Name] = new HostView(host, directory.IsUp(host.Name));
            _inventoryChanged = true;
            LogHostJoined(host.Name, host.Driver, host.Capacity);
            return true;
        }

        if (host.Sequence >= view.Reported.Sequence)
        {
            _inventoryChanged |= host.State != view.Reported.State || host.Allocated != view.Reported.Allocated;
            view.Reported = host;
        }

        return false;
    }

    /// <summary>Notices hosts going Down or coming back (Orleans membership), and writes the inventory when it changed.</summary>
    private async Task CheckHostsAsync(CancellationToken cancellationToken)
    {
        foreach (var view in _hosts.Values)
        {
            var up = directory.IsUp(view.Reported.Name);
            if (up == view.WasUp)
            {
                continue;
            }

            view.WasUp = up;
            var to = up ? view.Reported.State : HostState.Down;
            var from = up ? HostState.Down : view.Reported.State;
            LogHostLiveness(view.Reported.Name, from, to);
            await events.PublishAsync(new FleetEvent
            {
                Kind = FleetEventKind.HostStateChanged,
                At = time.GetUtcNow(),
                Host = view.Reported.Name,
                From = from.ToString(),
                To = to.ToString(),
                Reason = up ? "its silo rejoined the cluster" : "its silo left the cluster",
            });
        }

        // Allocation changes are written no more often than the configured interval.
        if (time.GetUtcNow() - _lastWrite >= options.Value.InventoryWriteInterval)
        {
            await WriteInventoryAsync(cancellationToken);
        }
    }

    private async Task WriteInventoryAsync(CancellationToken cancellationToken)
    {
        // One write at a time: this grain is reentrant, and concurrent writes would conflict on the ETag.
        // Changes made while a write is under way are picked up by the loop.
        if (_writing)
        {
            return;
        }

        _writing = true;
        try
        {
            while (_inventoryChanged)
            {
                _inventoryChanged = false;
                inventory.State.Hosts = _hosts.ToDictionary(h => h.Key, h => HostSummaryRow.From(h.Value.Reported), StringComparer.Ordinal);
                await inventory.WriteStateAsync(cancellationToken);
                _lastWrite = time.GetUtcNow();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _inventoryChanged = true;
            LogInventoryWriteFailed(ex.Message);
        }
        finally
        {
            _writing = false;
        }
    }

    /// <summary>
    /// What the scheduler knows of one host: its latest report plus the reservations it is placing there right now.
    /// The combined view is cached until either changes: every placement reads it for every host.
    /// </summary>
    private sealed class HostView(HostInfo reported, bool up)
    {
        private readonly List<VmReservation> _pending = [];
        private HostInfo _reported = reported;
        private HostCandidate? _candidate;

        public HostInfo Reported
        {
            get => _reported;
            set
            {
                _reported = value;
                _candidate = null;
            }
        }

        public bool WasUp { get; set; } = up;

        public HostInfo Effective => Candidate(WasUp).Info;

        public HostCandidate Candidate(bool isUp)
        {
            if (_candidate is { } cached && cached.Up == isUp)
            {
                return cached;
            }

            var effective = _pending.Count == 0
                ? _reported
                : _reported with
                {
                    Allocated = _pending.Aggregate(_reported.Allocated, (sum, r) => sum + _reported.MemoryOverhead.Charge(r.Resources)),
                    AntiAffinityGroups = _reported.AntiAffinityGroups.AddRange(_pending.Select(r => r.AntiAffinityGroup).OfType<string>()),
                    AffinityGroups = _reported.AffinityGroups.AddRange(_pending.Select(r => r.AffinityGroup).OfType<string>()),
                };
            return (_candidate = new HostCandidate(effective, isUp));
        }

        public void AddPending(VmReservation reservation)
        {
            _pending.Add(reservation);
            _candidate = null;
        }

        public void RemovePending(VmReservation reservation)
        {
            _pending.Remove(reservation);
            _candidate = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host} joined the inventory: driver {Driver}, capacity {Capacity}")]
    private partial void LogHostJoined(string host, string driver, Resources capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host} forgotten: its machine binding, settings and ledger are gone")]
    private partial void LogHostForgotten(string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: {From} -> {To}")]
    private partial void LogHostLiveness(string host, HostState from, HostState to);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Placed {Vm} on {Host} ({Policy}, {Candidates} candidates)")]
    private partial void LogPlaced(string vm, string host, PlacementPolicy policy, int candidates);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: could not refresh its summary at activation: {Error}")]
    private partial void LogRefreshFailed(string host, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the host inventory: {Error}")]
    private partial void LogInventoryWriteFailed(string error);
}
