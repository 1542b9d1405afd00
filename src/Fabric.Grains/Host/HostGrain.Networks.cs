using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Fabric.Hypervisor;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Host;

/// <summary>
/// The host's side of virtual networks (<see cref="IHostNetworking"/>). The NICs of the VMs placed here live in their
/// ledger entries; a network is realized here (through the driver's <see cref="IHostNetworks"/>) exactly while one of
/// them needs it. Level-triggered: before every launch the NICs' networks are realized, and every
/// <see cref="NetworkReconcileInterval"/> each needed network is realized again from what its network grain says now
/// (peers, reservations, rules), and whatever nothing needs is removed — a tap only once no process holds it, so a
/// restarted silo never cuts a running VM off.
/// </summary>
internal sealed partial class HostGrain : IHostNetworking
{
    private static readonly TimeSpan NetworkReconcileInterval = TimeSpan.FromSeconds(10);

    /// <summary>How long a guest gets to let an unplugged NIC go.</summary>
    private static readonly TimeSpan NicDetachTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The networks found realized here at the last reconciliation (shown by <c>host get</c>).</summary>
    private ImmutableArray<HostNetwork> _realizedNetworks = [];

    /// <summary>When each network (by VNI) was last realized here: a reconciliation never removes one realized since it began.</summary>
    private readonly Dictionary<int, long> _realizedAt = [];

    /// <summary>One realization of a network at a time from this grain (a push and the timer may both ask).</summary>
    private readonly Dictionary<string, Task> _realizing = new(StringComparer.Ordinal);

    /// <summary>Networks this activation realized (so it tells them when it no longer does; after a restart their grains expire it).</summary>
    private readonly HashSet<string> _joinedNetworks = new(StringComparer.Ordinal);

    private IHostNetworks? Networks => _driver.Capability<IHostNetworks>();

    async Task IHostNetworking.AttachNic(VmAssignment assignment, NicPlacement nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        var entry = RequireEntry(assignment);
        RequireNoMigration(entry, "attach a NIC to");
        var vm = assignment.Vm;
        var stored = LedgerNic.From(nic);
        if (entry.Nics.FirstOrDefault(n => n.Slot == nic.Slot) is { } held && held != stored)
        {
            throw FabricException.Conflict($"vm '{vm}': NIC slot {nic.Slot} on host '{Name}' holds {held.Network} {held.Ip}");
        }

        RequireNetworks();
        await SaveAsync(entry with { Nics = [.. entry.Nics.Where(n => n.Slot != nic.Slot).Append(stored).OrderBy(n => n.Slot)] });
        if (!HasProcess(vm))
        {
            return; // The next launch brings it.
        }

        try
        {
            await RealizeAsync(nic.Network);
            var nics = _driver.Capability<IVmNics>() ?? throw FabricException.Unavailable($"host '{Name}': its {_driver.Kind} driver cannot change NICs");
            await Task.Run(() => nics.AttachNicAsync(vm, NicSpecOf(stored), CancellationToken.None));
        }
        catch (Exception ex)
        {
            if (_entries.TryGetValue(vm, out var now) && now.Epoch == entry.Epoch)
            {
                await SaveAsync(now with { Nics = [.. now.Nics.Where(n => n.Slot != nic.Slot)] });
            }

            throw ex is HypervisorException hypervisor ? hypervisor.ToFabric() : ex;
        }
    }

    async Task IHostNetworking.DetachNic(VmAssignment assignment, int slot)
    {
        var entry = RequireEntry(assignment);
        RequireNoMigration(entry, "detach a NIC from");
        var vm = assignment.Vm;
        if (entry.Nics.FirstOrDefault(n => n.Slot == slot) is not { } nic)
        {
            return;
        }

        // The guest lets go first; only then does the ledger forget the NIC (a refusal leaves it attached and recorded).
        if (HasProcess(vm) && _driver.Capability<IVmNics>() is { } nics)
        {
            await Driver(() => Task.Run(() => nics.DetachNicAsync(vm, slot, NicDetachTimeout, CancellationToken.None)));
        }

        if (_entries.TryGetValue(vm, out var now) && now.Epoch == entry.Epoch)
        {
            await SaveAsync(now with { Nics = [.. now.Nics.Where(n => n.Slot != slot)] });
        }

        if (Networks is { } networks)
        {
            try
            {
                await Task.Run(() => networks.RemovePortAsync(nic.Vni, nic.ToPlacement().Tap, evenInUse: false, CancellationToken.None));
            }
            catch (HypervisorException ex)
            {
                LogNetworkStep(Name, nic.Network, "remove the tap of a detached NIC", ex.Message); // The next reconciliation removes it.
            }
        }
    }

    /// <summary>A network this host needs is realized again; one it no longer needs (deleted, or its last NIC here gone) is removed now rather than at the next pass.</summary>
    Task IHostNetworking.NetworkChanged(string network) =>
        NeededNetworks().Contains(network) ? RealizeQuietlyAsync(network) : ReconcileNetworksAsync(CancellationToken.None);

    /// <summary>The launch spec of an entry with its NICs, their networks realized here first (taps exist before QEMU opens them).</summary>
    private async Task<LaunchSpec> LaunchSpecAsync(LedgerEntry entry, Guid instance)
    {
        var spec = LaunchSpecOf(entry, instance);
        if (entry.Nics.IsDefaultOrEmpty)
        {
            return spec;
        }

        RequireNetworks();
        foreach (var network in entry.Nics.Select(n => n.Network).Distinct(StringComparer.Ordinal))
        {
            await RealizeAsync(network);
        }

        return spec with { Nics = [.. entry.Nics.Select(NicSpecOf)] };
    }

    private static NicSpec NicSpecOf(LedgerNic nic) => new(nic.Slot, nic.ToPlacement().Tap, nic.Mac, nic.Mtu);

    /// <summary>NICs of the VMs placed here (fenced placements too while their process may hold a tap).</summary>
    private List<LedgerNic> NeededNics() => [.. _entries.Values.Where(e => e.Fenced is null || HasProcess(e.Vm)).SelectMany(e => e.Nics)];

    /// <summary>Networks a VM placed here has a NIC on.</summary>
    private HashSet<string> NeededNetworks() => [.. NeededNics().Select(n => n.Network)];

    /// <summary>Realizes <paramref name="network"/> as its network grain says now, with every tap this host's VMs need on it.</summary>
    private Task RealizeAsync(string network)
    {
        // Joined, not queued: a realization started a moment ago already reads the ledger as it is now.
        if (_realizing.TryGetValue(network, out var running) && !running.IsCompleted)
        {
            return ChainAsync(running, network);
        }

        var task = RealizeOnceAsync(network);
        _realizing[network] = task;
        return task;
    }

    private async Task ChainAsync(Task running, string network)
    {
        try
        {
            await running;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The earlier attempt's failure is its caller's; this caller gets its own attempt.
        }

        await RealizeOnceAsync(network);
    }

    private async Task RealizeOnceAsync(string network)
    {
        var networks = RequireNetworks();
        var realization = await GrainFactory.GetGrain<IVirtualNetworkGrain>(network).Realize(Name, _address);
        _realizedAt[realization.Vni] = Environment.TickCount64;
        var ports = _entries.Values.SelectMany(e => e.Nics).Where(n => n.Network == network)
            .Select(n => new PortPlan(n.ToPlacement().Tap, n.Mac)).Distinct().ToImmutableArray();
        var plan = new NetworkPlan(realization.Name, realization.Vni, realization.Cidr, realization.Gateway, realization.Dhcp, realization.Mtu, _address)
        {
            Peers = realization.Peers,
            Ports = ports,
            Reservations = [.. realization.Ports.Select(p => new DhcpReservation(p.Mac, p.Ip))],
            Rules = [.. realization.Rules.Select(ToTrafficRule)],
        };
        await Driver(() => Task.Run(() => networks.RealizeAsync(plan, CancellationToken.None)));
    }

    private async Task RealizeQuietlyAsync(string network)
    {
        try
        {
            await RealizeAsync(network);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogNetworkStep(Name, network, "realize", ex.Message);
        }
    }

    /// <summary>
    /// The level-triggered pass: every network a VM here needs is realized again; every network nothing needs is
    /// removed (and its grain told this host left); every tap no NIC here names and no process holds is removed.
    /// </summary>
    private async Task ReconcileNetworksAsync(CancellationToken cancellationToken)
    {
        if (Networks is not { } networks)
        {
            return;
        }

        var began = Environment.TickCount64;
        foreach (var network in NeededNetworks().Order(StringComparer.Ordinal))
        {
            await RealizeQuietlyAsync(network);
        }

        IReadOnlyList<RealizedNetwork> observed;
        try
        {
            observed = await Task.Run(() => networks.ObserveAsync(cancellationToken), cancellationToken);
        }
        catch (HypervisorException ex)
        {
            LogNetworkStep(Name, "*", "observe the networks", ex.Message);
            return;
        }

        var nics = NeededNics();
        var names = nics.GroupBy(n => n.Vni).ToDictionary(g => g.Key, g => g.First().Network);
        var taps = nics.Select(n => n.ToPlacement().Tap).ToHashSet(StringComparer.Ordinal);
        var shown = ImmutableArray.CreateBuilder<HostNetwork>();
        foreach (var realized in observed)
        {
            if (!names.TryGetValue(realized.Vni, out var name))
            {
                // Asked again right before: a launch may have needed the network while this pass awaited.
                if (!NeededNics().Any(n => n.Vni == realized.Vni) && !RealizedSince(realized.Vni, began))
                {
                    await RemoveNetworkQuietlyAsync(networks, realized);
                }

                continue;
            }

            foreach (var stale in realized.Taps.Where(t => !t.InUse && !taps.Contains(t.Tap)))
            {
                if (!NeededNics().Any(n => n.ToPlacement().Tap == stale.Tap))
                {
                    await RemovePortQuietlyAsync(networks, realized.Vni, stale.Tap, name);
                }
            }

            shown.Add(new HostNetwork
            {
                Network = name,
                Vni = realized.Vni,
                Bridge = realized.Bridge,
                Taps = [.. realized.Taps.Select(t => t.Tap).Order(StringComparer.Ordinal)],
                Peers = realized.Peers,
                DhcpPid = realized.DhcpPid,
            });
        }

        _realizedNetworks = shown.ToImmutable();
        foreach (var left in _joinedNetworks.Except(NeededNetworks()).ToList())
        {
            try
            {
                await GrainFactory.GetGrain<IVirtualNetworkGrain>(left).Leave(Name);
                _joinedNetworks.Remove(left);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogNetworkStep(Name, left, "leave", ex.Message);
            }
        }

        _joinedNetworks.UnionWith(NeededNetworks());
    }

    /// <summary>Whether network <paramref name="vni"/> was realized here since <paramref name="tick"/> (a launch needed it meanwhile).</summary>
    private bool RealizedSince(int vni, long tick) => _realizedAt.TryGetValue(vni, out var at) && at >= tick;

    private async Task RemoveNetworkQuietlyAsync(IHostNetworks networks, RealizedNetwork realized)
    {
        try
        {
            await Task.Run(() => networks.RemoveAsync(realized.Vni, CancellationToken.None));
            LogNetworkRemoved(Name, realized.Vni, realized.Bridge);
        }
        catch (HypervisorException ex)
        {
            LogNetworkStep(Name, realized.Bridge, "remove", ex.Message);
        }
    }

    private async Task RemovePortQuietlyAsync(IHostNetworks networks, int vni, string tap, string network)
    {
        try
        {
            await Task.Run(() => networks.RemovePortAsync(vni, tap, evenInUse: false, CancellationToken.None));
        }
        catch (HypervisorException ex)
        {
            LogNetworkStep(Name, network, $"remove stale tap {tap}", ex.Message);
        }
    }

    private IHostNetworks RequireNetworks() =>
        Networks ?? throw FabricException.Unavailable($"host '{Name}' cannot realize virtual networks: its silo does not run in a network namespace of its own (Fabric:Networks:Enabled is off)");

    private static TrafficRule ToTrafficRule(NetworkRule rule) =>
        new(rule.Protocol.ToString().ToLowerInvariant(), rule.FromPort, rule.ToPort, rule.Source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: network {Network}: could not {Step} for now: {Error}")]
    private partial void LogNetworkStep(string host, string network, string step, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host}: network with VXLAN id {Vni} ({Bridge}) removed: no VM here needs it")]
    private partial void LogNetworkRemoved(string host, int vni, string bridge);
}
