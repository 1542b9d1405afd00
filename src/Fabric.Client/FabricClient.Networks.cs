using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Virtual networks and their rules (<see cref="IVirtualNetworkGrain"/>), and VMs' NICs (<see cref="IVmNetworks"/>).</summary>
public sealed partial class FabricClient
{
    public Task<NetworkInfo> CreateNetworkAsync(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Call(() => Network(spec.Name).Create(spec));
    }

    /// <summary>The network with its NICs and the hosts realizing it.</summary>
    public Task<NetworkInfo> GetNetworkAsync(string network) => Call(() => Network(network).Get());

    /// <summary>Every network, by name.</summary>
    public async Task<ImmutableArray<NetworkInfo>> ListNetworksAsync()
    {
        var names = await Call(() => _client.GetGrain<INetworkDirectoryGrain>(INetworkDirectoryGrain.Key).List());
        var networks = ImmutableArray.CreateBuilder<NetworkInfo>(names.Length);
        foreach (var name in names)
        {
            try
            {
                networks.Add((await GetNetworkAsync(name)) with { Ports = [] });
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
            {
                // Deleted between the directory's answer and this one.
            }
        }

        return networks.ToImmutable();
    }

    /// <summary>Deletes a network (refused while NICs are attached); its hosts remove what they realized.</summary>
    public Task DeleteNetworkAsync(string network) => Call(async () =>
    {
        await Network(network).Delete();
        return true;
    });

    /// <summary>Adds an allow rule; enforced on every host realizing the network within moments.</summary>
    public Task<NetworkRule> AddNetworkRuleAsync(string network, NetworkRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return Call(() => Network(network).AddRule(rule));
    }

    public Task RemoveNetworkRuleAsync(string network, int rule) => Call(async () =>
    {
        await Network(network).RemoveRule(rule);
        return true;
    });

    /// <summary>Gives a VM a NIC on a network (hot-plugged while it runs).</summary>
    public Task<VmInfo> AttachNicAsync(string vm, NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Call(() => _client.GetGrain<IVmNetworks>(Names.Require("name", vm)).AttachNic(request));
    }

    /// <summary>Unplugs a VM's NIC on a network (the guest must let it go) and frees its address.</summary>
    public Task<VmInfo> DetachNicAsync(string vm, NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Call(() => _client.GetGrain<IVmNetworks>(Names.Require("name", vm)).DetachNic(request));
    }

    private IVirtualNetworkGrain Network(string network) => _client.GetGrain<IVirtualNetworkGrain>(Names.Require("network", network));
}
