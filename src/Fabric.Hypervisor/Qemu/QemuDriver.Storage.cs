using Fabric.Hypervisor.Volumes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>The machine's storage pools, served beside its VMs: the driver offers its <see cref="VolumeStore"/> as <see cref="IVolumeStore"/>.</summary>
public sealed partial class QemuDriver
{
    private readonly VolumeStore _volumes = new();

    TCapability? IHypervisorDriver.Capability<TCapability>()
        where TCapability : class => this as TCapability ?? _volumes as TCapability;
}
