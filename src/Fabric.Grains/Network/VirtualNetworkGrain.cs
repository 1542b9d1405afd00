using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Network;

/// <summary>
/// One virtual network (<see cref="IVirtualNetworkGrain"/>). Requests run one at a time (not reentrant), so an
/// allocation picks a free address and writes it before answering: two NICs can never get the same address or MAC,
/// however many ask at once. Hosts pull their realization (<see cref="IVirtualNetworkGrain.Realize"/>) and are told
/// one-way when their peers or the rules change; a host that has not pulled for <see cref="MemberGrace"/> (it died, or
/// stopped needing the network without saying so) stops being anyone's peer.
/// </summary>
internal sealed partial class VirtualNetworkGrain(
    [PersistentState("network", FabricPersistence.Name)] IPersistentState<NetworkRecord> state,
    HostDirectory hosts,
    TimeProvider time,
    ILogger<VirtualNetworkGrain> logger) : Grain, IVirtualNetworkGrain
{
    /// <summary>
    /// How long a host stays a peer after it last pulled (hosts realizing the network pull every few seconds): long
    /// enough that a silo restart does not cut its VMs off, short enough that a dead host stops being flooded to.
    /// </summary>
    public static readonly TimeSpan MemberGrace = TimeSpan.FromSeconds(60);

    /// <summary>A NIC whose VM does not list it is freed only after this long: the VM may still be writing its record.</summary>
    private static readonly TimeSpan OrphanAge = TimeSpan.FromMinutes(5);

    /// <summary>When each member last pulled (in memory: at activation, every member counts as just seen).</summary>
    private readonly Dictionary<string, DateTimeOffset> _lastSeen = new(StringComparer.Ordinal);
    private bool _mustReload;

    private string Name => this.GetPrimaryKeyString();

    private NetworkRecord Record => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var member in Record.Members.Keys)
        {
            _lastSeen[member] = now;
        }

        if (Record.Exists)
        {
            // Level-triggered: a network whose directory entry was lost (a crash between the two writes) is listed again.
            await Directory.Add(Name, Record.Cidr, Record.Exclusive);
        }
    }

    async Task<NetworkInfo> IVirtualNetworkGrain.Create(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await ReloadIfNeededAsync();
        spec = spec.Validate();
        if (spec.Name != Name)
        {
            throw FabricException.InvalidSpec("name", $"'{spec.Name}' does not match the network being created ('{Name}')");
        }

        if (Record.Exists)
        {
            throw FabricException.Conflict($"network '{Name}' already exists");
        }

        var vni = await Directory.Add(Name, spec.Cidr, spec.Exclusive);
        await WriteAsync(new NetworkRecord
        {
            Vni = vni,
            Cidr = spec.Cidr,
            Gateway = spec.Gateway!,
            Dhcp = spec.Dhcp,
            Mtu = spec.Mtu,
            Exclusive = spec.Exclusive,
            CreatedAt = time.GetUtcNow(),
        });
        LogCreated(Name, spec.Cidr, vni);
        return Info(withPorts: true);
    }

    Task<NetworkInfo> IVirtualNetworkGrain.Get()
    {
        RequireExists();
        return Task.FromResult(Info(withPorts: true));
    }

    async Task IVirtualNetworkGrain.Delete()
    {
        await ReloadIfNeededAsync();
        RequireExists();
        await ForgetOrphansAsync(OrphanAge);
        if (!Record.Ports.IsEmpty)
        {
            var holders = Record.Ports.Values.Select(p => p.Vm).Distinct().Order(StringComparer.Ordinal).ToList();
            throw FabricException.Conflict($"network '{Name}' has {Record.Ports.Count} NIC(s) attached (vm {string.Join(", ", holders.Take(5))}{(holders.Count > 5 ? ", …" : "")}); detach them or delete the VMs first");
        }

        var members = Record.Members.Keys.ToList();
        await WriteAsync(new NetworkRecord());
        await Directory.Remove(Name);
        _lastSeen.Clear();
        Tell(members, except: null);
        LogDeleted(Name);
    }

    async Task<NicPlacement> IVirtualNetworkGrain.AllocateNic(string vm, int slot, string? ip)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        Names.Require("vm", vm);
        if (slot is < 0 or >= VmNic.MaxPerVm)
        {
            throw FabricException.InvalidSpec("slot", $"{slot} is out of range 0–{VmNic.MaxPerVm - 1}");
        }

        var prefix = Record.Prefix;
        int? wanted = null;
        if (ip is not null)
        {
            var address = Ipv4Cidr.ParseAddress("ip", ip);
            if (!prefix.Contains(address))
            {
                throw FabricException.InvalidSpec("ip", $"{ip} is outside network '{Name}' ({Record.Cidr})");
            }

            var offset = (int)(address - prefix.Network);
            if (address == prefix.Network || address == prefix.Broadcast || offset == Record.GatewayOffset)
            {
                throw FabricException.InvalidSpec("ip", $"{ip} is the {(address == prefix.Network ? "network" : address == prefix.Broadcast ? "broadcast" : "gateway")} address of network '{Name}'");
            }

            wanted = offset;
        }

        if (Record.Ports.TryGetValue(PortRow.KeyOf(vm, slot), out var held))
        {
            // A repeated request gets what it got; a different address for the same NIC is a conflict.
            return wanted is null || wanted == held.Offset
                ? Record.Placement(Name, held)
                : throw FabricException.Conflict($"vm '{vm}' already has NIC {slot} on network '{Name}' with address {Record.IpOf(held)}");
        }

        var offsetTaken = FindOffset(wanted);
        if (offsetTaken.Holder is not null)
        {
            await ForgetOrphansAsync(OrphanAge);
            offsetTaken = FindOffset(wanted);
        }

        var chosen = offsetTaken.Offset ?? (wanted is not null
            ? throw FabricException.Conflict($"address {ip} on network '{Name}' is held by vm '{offsetTaken.Holder!.Vm}'")
            : throw FabricException.InsufficientCapacity($"network '{Name}' ({Record.Cidr}) has no free address left"));
        var port = new PortRow { Vm = vm, Slot = slot, Offset = chosen, AllocatedAt = time.GetUtcNow() };
        var next = Record.Copy();
        next.Ports = Record.Ports.Add(port.Key, port);
        await WriteAsync(next);
        var placement = Record.Placement(Name, port);
        LogAllocated(Name, vm, slot, placement.Ip, placement.Mac);
        return placement;
    }

    async Task IVirtualNetworkGrain.ReleaseNic(string vm, int slot)
    {
        await ReloadIfNeededAsync();
        if (!Record.Exists || !Record.Ports.TryGetValue(PortRow.KeyOf(vm, slot), out var port))
        {
            return;
        }

        var next = Record.Copy();
        next.Ports = Record.Ports.Remove(port.Key);
        await WriteAsync(next);
        LogReleased(Name, vm, slot, port.Offset);
    }

    async Task<NetworkRule> IVirtualNetworkGrain.AddRule(NetworkRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        await ReloadIfNeededAsync();
        RequireExists();
        rule = rule.Validate();
        if (Record.Rules.Length >= NetworkRule.MaxPerNetwork)
        {
            throw FabricException.InsufficientCapacity($"network '{Name}' has {NetworkRule.MaxPerNetwork} rules, its limit");
        }

        if (Record.Rules.FirstOrDefault(r => r with { Id = 0 } == rule with { Id = 0 }) is { } same)
        {
            return same;
        }

        var added = rule with { Id = Record.NextRuleId };
        var next = Record.Copy();
        next.Rules = Record.Rules.Add(added);
        next.NextRuleId = Record.NextRuleId + 1;
        await WriteAsync(next);
        LogRuleAdded(Name, added);
        Tell(Record.Members.Keys, except: null);
        return added;
    }

    async Task IVirtualNetworkGrain.RemoveRule(int id)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        if (Record.Rules.All(r => r.Id != id))
        {
            throw new FabricException(ErrorCodes.NotFound, $"network '{Name}' has no rule {id}");
        }

        var next = Record.Copy();
        next.Rules = [.. Record.Rules.Where(r => r.Id != id)];
        await WriteAsync(next);
        LogRuleRemoved(Name, id);
        Tell(Record.Members.Keys, except: null);
    }

    async Task<NetworkRealization> IVirtualNetworkGrain.Realize(string host, string address)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        Names.Require("host", host);
        Ipv4Cidr.ParseAddress("address", address);
        var now = time.GetUtcNow();
        _lastSeen[host] = now;
        var expired = Record.Members.Keys
            .Where(m => m != host && (!_lastSeen.TryGetValue(m, out var seen) || now - seen > MemberGrace))
            .ToList();
        var joined = Record.Members.GetValueOrDefault(host) != address;
        if (joined || expired.Count > 0)
        {
            var next = Record.Copy();
            next.Members = Record.Members.RemoveRange(expired).SetItem(host, address);
            await WriteAsync(next);
            foreach (var gone in expired)
            {
                _lastSeen.Remove(gone);
                LogMemberExpired(Name, gone);
            }

            if (joined)
            {
                LogMemberJoined(Name, host, address);
            }

            // The others learn of the new (or lost) peer now rather than at their next reconciliation.
            Tell(Record.Members.Keys, except: host);
        }

        return new NetworkRealization
        {
            Name = Name,
            Vni = Record.Vni,
            Cidr = Record.Cidr,
            Gateway = Record.Gateway,
            Dhcp = Record.Dhcp,
            Mtu = Record.Mtu,
            Peers = [.. Record.Members.Where(m => m.Key != host).Select(m => m.Value).Where(a => a != address).Distinct().Order(StringComparer.Ordinal)],
            Ports = Ports(),
            Rules = Record.Rules,
        };
    }

    async Task IVirtualNetworkGrain.Leave(string host)
    {
        await ReloadIfNeededAsync();
        _lastSeen.Remove(host);
        if (!Record.Exists || !Record.Members.ContainsKey(host))
        {
            return;
        }

        var next = Record.Copy();
        next.Members = Record.Members.Remove(host);
        await WriteAsync(next);
        LogMemberLeft(Name, host);
        Tell(Record.Members.Keys, except: null);
    }

    /// <summary>The lowest free offset (or <paramref name="wanted"/> when free), else who holds the wanted one.</summary>
    private (int? Offset, PortRow? Holder) FindOffset(int? wanted)
    {
        var byOffset = Record.Ports.Values.ToDictionary(p => p.Offset);
        if (wanted is { } offset)
        {
            return byOffset.TryGetValue(offset, out var holder) ? (null, holder) : (offset, null);
        }

        var last = Record.Prefix.Size - 2;
        for (var candidate = 1; candidate <= last; candidate++)
        {
            if (candidate != Record.GatewayOffset && !byOffset.ContainsKey(candidate))
            {
                return (candidate, null);
            }
        }

        return (null, byOffset.Values.FirstOrDefault());
    }

    /// <summary>
    /// Frees NICs older than <paramref name="minimumAge"/> whose VM no longer lists them (it was deleted, or a create
    /// failed before it wrote its record and could not give them back).
    /// </summary>
    private async Task ForgetOrphansAsync(TimeSpan minimumAge)
    {
        var now = time.GetUtcNow();
        var orphans = new List<PortRow>();
        foreach (var group in Record.Ports.Values.Where(p => now - p.AllocatedAt >= minimumAge).GroupBy(p => p.Vm))
        {
            var listed = await ListedNicsAsync(group.Key);
            if (listed is { } nics)
            {
                orphans.AddRange(group.Where(p => !nics.Any(n => n.Network == Name && n.Slot == p.Slot && n.Ip == Record.IpOf(p))));
            }
        }

        if (orphans.Count == 0)
        {
            return;
        }

        var next = Record.Copy();
        next.Ports = Record.Ports.RemoveRange(orphans.Select(o => o.Key));
        await WriteAsync(next);
        foreach (var orphan in orphans)
        {
            LogOrphanFreed(Name, orphan.Vm, orphan.Slot, orphan.Offset);
        }
    }

    /// <summary>The NICs <paramref name="vm"/> lists: empty when it does not exist, null when it cannot be asked now.</summary>
    private async Task<ImmutableArray<VmNic>?> ListedNicsAsync(string vm)
    {
        try
        {
            return (await GrainFactory.GetGrain<IVmGrain>(vm).Get()).Nics;
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
        {
            return [];
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return null;
        }
    }

    /// <summary>Tells the hosts one-way that the network changed (they pull the rest); a Down host learns at its next reconciliation.</summary>
    private void Tell(IEnumerable<string> members, string? except)
    {
        foreach (var member in members.Where(m => m != except && hosts.IsUp(m)).ToList())
        {
            GrainFactory.GetGrain<IHostNetworking>(member).NetworkChanged(Name).Ignore();
        }
    }

    private ImmutableArray<NetworkPort> Ports() =>
        [.. Record.Ports.Values.OrderBy(p => p.Offset).Select(p => new NetworkPort(p.Vm, p.Slot, Record.IpOf(p), Record.MacOf(p)))];

    private NetworkInfo Info(bool withPorts)
    {
        var prefix = Record.Prefix;
        return new NetworkInfo
        {
            Name = Name,
            Cidr = Record.Cidr,
            Gateway = Record.Gateway,
            Dhcp = Record.Dhcp,
            Mtu = Record.Mtu,
            Vni = Record.Vni,
            Exclusive = Record.Exclusive,
            Nics = Record.Ports.Count,
            FreeAddresses = prefix.Size - 3 - Record.Ports.Count,
            Hosts = [.. Record.Members.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => new NetworkMember(m.Key, m.Value))],
            Rules = Record.Rules,
            CreatedAt = Record.CreatedAt,
            Ports = withPorts ? Ports() : [],
        };
    }

    private void RequireExists()
    {
        if (!Record.Exists)
        {
            throw FabricException.NotFound("network", Name);
        }
    }

    private INetworkDirectoryGrain Directory => GrainFactory.GetGrain<INetworkDirectoryGrain>(INetworkDirectoryGrain.Key);

    private async Task ReloadIfNeededAsync()
    {
        if (_mustReload)
        {
            await state.ReadStateAsync();
            _mustReload = false;
        }
    }

    private async Task WriteAsync(NetworkRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"network '{Name}': its record could not be written ({failure.Message}); nothing was changed");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network} created: {Cidr}, VXLAN id {Vni}")]
    private partial void LogCreated(string network, string cidr, int vni);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network} deleted")]
    private partial void LogDeleted(string network);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: NIC {Slot} of vm {Vm} gets {Ip} ({Mac})")]
    private partial void LogAllocated(string network, string vm, int slot, string ip, string mac);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: NIC {Slot} of vm {Vm} released (address offset {Offset})")]
    private partial void LogReleased(string network, string vm, int slot, int offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Network {Network}: NIC {Slot} of vm {Vm} (address offset {Offset}) freed: the vm does not list it")]
    private partial void LogOrphanFreed(string network, string vm, int slot, int offset);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: rule added {Rule}")]
    private partial void LogRuleAdded(string network, NetworkRule rule);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: rule {Id} removed")]
    private partial void LogRuleRemoved(string network, int id);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: host {Host} realizes it (underlay {Address})")]
    private partial void LogMemberJoined(string network, string host, string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: host {Host} no longer realizes it")]
    private partial void LogMemberLeft(string network, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Network {Network}: host {Host} has not realized it for a while; it is no longer a peer")]
    private partial void LogMemberExpired(string network, string host);
}
