namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// How much memory a QEMU process needs beyond its guest's RAM: its own code and libraries, device state, I/O
/// buffers, and under TCG the translation cache (bounded by <c>tb-size</c>). A VM's cgroup memory limit is its RAM
/// plus this, and the host's capacity counts it, so a full host is full of guests that fit.
/// </summary>
public static class QemuMemoryOverhead
{
    /// <summary>A first estimate, to be replaced by the measured figure (docs/confinement.md).</summary>
    public static long MiB(int vcpus, long memoryMiB) => 128 + (8L * vcpus) + (memoryMiB / 64);
}
