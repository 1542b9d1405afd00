namespace Fabric.Hypervisor;

/// <summary>
/// The machine side of one host: what the machine is, and the capabilities its driver offers. Running VM processes
/// (<see cref="IVmProcesses"/>) is what every driver does; everything else is a capability of its own
/// (<see cref="IGuestConsole"/> and <see cref="IGuestMemory"/> today; snapshots, migration, volumes and network
/// realization as they land), looked up with <see cref="Capability{TCapability}"/>, so a driver implements only what
/// it really supports and a host answers a request for a missing capability with a clear error rather than a stub.
/// </summary>
public interface IHypervisorDriver : IVmProcesses, IAsyncDisposable
{
    /// <summary><c>qemu</c>, or <c>simulated</c> for the fleet-scale simulation.</summary>
    string Kind { get; }

    HostFacts Facts { get; }

    /// <summary>What a VM's process takes beyond its guest's RAM; the host's capacity counts it.</summary>
    MemoryOverheadFormula MemoryOverhead { get; }

    /// <summary>The guest images this machine can boot, by name.</summary>
    IReadOnlyDictionary<string, GuestImage> Images { get; }

    /// <summary>The capability <typeparamref name="TCapability"/> when this driver offers it, else null.</summary>
    TCapability? Capability<TCapability>()
        where TCapability : class => this as TCapability;
}

/// <summary>The machine as the driver sees it.</summary>
/// <param name="Cpus">Logical CPUs of the machine.</param>
/// <param name="MemoryMiB">Memory of the machine.</param>
/// <param name="Accelerator"><c>kvm</c> or <c>tcg</c> (or <c>simulated</c>).</param>
/// <param name="AcceleratorReason">Why that accelerator was chosen.</param>
/// <param name="HypervisorVersion">E.g. the QEMU version.</param>
public sealed record HostFacts(int Cpus, long MemoryMiB, string Accelerator, string AcceleratorReason, string HypervisorVersion);
