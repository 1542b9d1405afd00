using System.Collections.Immutable;

namespace Fabric.Contracts;

/// <summary>
/// Lists VMs across the fleet from the VM catalog (a summary per VM that each VM grain keeps current), filtered by a
/// label selector. A stateless worker: any silo answers.
/// </summary>
[Alias("fabric.IVmDirectoryGrain")]
public interface IVmDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>VMs whose labels match every pair of <paramref name="selector"/> (all VMs when it is empty), by name.</summary>
    [Alias("List")]
    Task<ImmutableArray<VmInfo>> List(LabelSelector selector);
}
