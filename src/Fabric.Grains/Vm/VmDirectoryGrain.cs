using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Orleans.Concurrency;

namespace Fabric.Grains.Vm;

/// <summary>Lists VMs from the catalog; any silo answers, and reachability is decided there from live membership.</summary>
[StatelessWorker]
internal sealed class VmDirectoryGrain(IVmCatalog catalog, HostDirectory hosts) : Grain, IVmDirectoryGrain
{
    async Task<ImmutableArray<VmInfo>> IVmDirectoryGrain.List(LabelSelector selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        var vms = await catalog.ListAsync(selector);
        return vms.Select(vm => hosts.IsUp(vm.Host) ? vm : vm with { Reachable = false }).ToImmutableArray();
    }
}
