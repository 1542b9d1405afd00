using Fabric.Hypervisor.Volumes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// What the driver offers beside its VMs: the machine's storage pools (its <see cref="VolumeStore"/>, as
/// <see cref="IVolumeStore"/>) and, where the host may realize virtual networks, those (<see cref="IHostNetworks"/>,
/// given at creation by whoever knows the host has a network namespace of its own).
/// </summary>
public sealed partial class QemuDriver
{
    private readonly VolumeStore _volumes = new();
    private readonly IHostNetworks? _networks;

    TCapability? IHypervisorDriver.Capability<TCapability>()
        where TCapability : class => this as TCapability ?? _volumes as TCapability ?? _networks as TCapability;
}
