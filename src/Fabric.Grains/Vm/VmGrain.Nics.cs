using System.Collections.Immutable;
using Fabric.Contracts;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Vm;

/// <summary>
/// The VM's NICs (<see cref="IVmNetworks"/>). The network allocates each NIC's address and MAC first (it is the single
/// writer of its addresses); the VM's record lists the NIC next; the host's ledger entry lists what the process is
/// plugged into. Freed in the reverse order: the host unplugs, the record forgets, the network frees. Calls flow VM →
/// network and VM → host only.
/// </summary>
internal sealed partial class VmGrain : IVmNetworks
{
    async Task<VmInfo> IVmNetworks.AttachNic(NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        await ReloadIfNeededAsync();
        RequireExists();
        request = request.Validate("nic");
        RequireSettledForDevices("attach a NIC to");
        var slot = Enumerable.Range(0, VmNic.MaxPerVm).FirstOrDefault(s => Record.Nics.All(n => n.Slot != s), -1);
        if (slot < 0)
        {
            throw FabricException.Conflict($"vm '{Name}' already has {VmNic.MaxPerVm} NICs");
        }

        if (Record.Placed)
        {
            RequireHostUp(Record.Host);
        }

        var network = GrainFactory.GetGrain<IVirtualNetworkGrain>(request.Network);
        var nic = NicRow.From(await network.AllocateNic(Name, slot, request.Ip));
        try
        {
            var next = Record.Copy();
            next.Nics = [.. Record.Nics.Append(nic).OrderBy(n => n.Slot)];
            await WriteAsync(next);
        }
        catch
        {
            await network.ReleaseNic(Name, slot);
            throw;
        }

        if (Record.Placed)
        {
            try
            {
                await GrainFactory.GetGrain<IHostNetworking>(Record.Host).AttachNic(Record.Assignment(Name), nic.Placement);
            }
            catch (Exception ex)
            {
                var undone = Record.Copy();
                undone.Nics = [.. Record.Nics.Where(n => n.Slot != slot)];
                await WriteAsync(undone);
                await network.ReleaseNic(Name, slot);
                throw HostCalls.ToFabric(ex, Record.Host);
            }
        }

        LogNicAttached(Name, nic.Network, nic.Slot, nic.Ip);
        return Info(full: true);
    }

    async Task<VmInfo> IVmNetworks.DetachNic(NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        await ReloadIfNeededAsync();
        RequireExists();
        request = request.Validate("nic");
        var onNetwork = Record.Nics.Where(n => n.Network == request.Network && (request.Ip is null || n.Ip == request.Ip)).ToList();
        var nic = onNetwork.Count switch
        {
            0 => throw new FabricException(ErrorCodes.NotFound, $"vm '{Name}' has no NIC on network '{request}'"),
            1 => onNetwork[0],
            _ => throw FabricException.Conflict($"vm '{Name}' has {onNetwork.Count} NICs on network '{request.Network}' ({string.Join(", ", onNetwork.Select(n => n.Ip))}); name one as {request.Network}:IP"),
        };
        RequireSettledForDevices("detach a NIC from");
        if (Record.Placed)
        {
            RequireHostUp(Record.Host);
            try
            {
                await GrainFactory.GetGrain<IHostNetworking>(Record.Host).DetachNic(Record.Assignment(Name), nic.Slot);
            }
            catch (Exception ex)
            {
                throw HostCalls.ToFabric(ex, Record.Host);
            }
        }

        var next = Record.Copy();
        next.Nics = [.. Record.Nics.Where(n => n.Slot != nic.Slot)];
        await WriteAsync(next);
        await ReleaseNicsAsync([nic]);
        LogNicDetached(Name, nic.Network, nic.Slot, nic.Ip);
        return Info(full: true);
    }

    /// <summary>Allocates a new VM's NICs (slot = position); on any failure frees what it took and rethrows.</summary>
    private async Task<ImmutableArray<NicRow>> AllocateNicsAsync(ImmutableArray<NicRequest> requests)
    {
        var allocated = ImmutableArray.CreateBuilder<NicRow>(requests.Length);
        try
        {
            for (var slot = 0; slot < requests.Length; slot++)
            {
                var request = requests[slot];
                allocated.Add(NicRow.From(await GrainFactory.GetGrain<IVirtualNetworkGrain>(request.Network).AllocateNic(Name, slot, request.Ip)));
            }
        }
        catch
        {
            await ReleaseNicsAsync(allocated.ToImmutable());
            throw;
        }

        return allocated.ToImmutable();
    }

    /// <summary>Frees the NICs' addresses; failures are logged (the network frees a NIC its VM no longer lists).</summary>
    private async Task ReleaseNicsAsync(ImmutableArray<NicRow> nics)
    {
        foreach (var nic in nics)
        {
            try
            {
                await GrainFactory.GetGrain<IVirtualNetworkGrain>(nic.Network).ReleaseNic(Name, nic.Slot);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogNicReleaseFailed(Name, nic.Network, nic.Slot, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: NIC {Slot} on network {Network} attached ({Ip})")]
    private partial void LogNicAttached(string vm, string network, int slot, string ip);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: NIC {Slot} on network {Network} detached ({Ip})")]
    private partial void LogNicDetached(string vm, string network, int slot, string ip);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: NIC {Slot} could not be given back to network {Network} for now: {Error}")]
    private partial void LogNicReleaseFailed(string vm, string network, int slot, string error);
}
