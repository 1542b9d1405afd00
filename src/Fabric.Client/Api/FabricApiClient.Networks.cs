using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Virtual networks and their rules (<c>/v1/networks</c>), and VMs' NICs.</summary>
public sealed partial class FabricApiClient
{
    public Task<NetworkInfo> CreateNetworkAsync(NetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return PostAsync<NetworkInfo>("v1/networks", spec, CancellationToken.None);
    }

    /// <summary>The network with its NICs and the hosts realizing it.</summary>
    public Task<NetworkInfo> GetNetworkAsync(string network) => GetAsync<NetworkInfo>($"v1/networks/{Segment(network)}", CancellationToken.None);

    /// <summary>Every network, by name.</summary>
    public Task<ImmutableArray<NetworkInfo>> ListNetworksAsync() => ListAsync<NetworkInfo>("v1/networks", CancellationToken.None);

    /// <summary>Deletes a network (refused while NICs are attached); its hosts remove what they realized.</summary>
    public Task DeleteNetworkAsync(string network) => SendAsync(HttpMethod.Delete, $"v1/networks/{Segment(network)}", null, CancellationToken.None);

    /// <summary>Adds an allow rule; enforced on every host realizing the network within moments.</summary>
    public Task<NetworkRule> AddNetworkRuleAsync(string network, NetworkRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return PostAsync<NetworkRule>($"v1/networks/{Segment(network)}/rules", rule, CancellationToken.None);
    }

    public Task RemoveNetworkRuleAsync(string network, int rule) =>
        SendAsync(HttpMethod.Delete, $"v1/networks/{Segment(network)}/rules/{rule}", null, CancellationToken.None);

    /// <summary>Gives a VM a NIC on a network (hot-plugged while it runs).</summary>
    public Task<VmInfo> AttachNicAsync(string vm, NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync<VmInfo>($"v1/vms/{Segment(vm)}/nics", request, CancellationToken.None);
    }

    /// <summary>Unplugs a VM's NIC on a network (the guest must let it go) and frees its address.</summary>
    public Task<VmInfo> DetachNicAsync(string vm, NicRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return SendAsync<VmInfo>(HttpMethod.Delete, $"v1/vms/{Segment(vm)}/nics/{Segment(request.Network)}", null, _connection.RequestTimeout, CancellationToken.None);
    }
}
