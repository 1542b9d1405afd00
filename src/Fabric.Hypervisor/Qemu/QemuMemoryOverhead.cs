namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// How much memory a QEMU process needs beyond its guest's RAM: its own code and libraries, device state, I/O
/// buffers, and under TCG the translation cache (bounded by <c>tb-size</c>). A VM's cgroup memory limit is its RAM
/// plus this, and the host's capacity counts it, so a full host is full of guests that fit.
/// </summary>
public static class QemuMemoryOverhead
{
    /// <summary>
    /// Measured under TCG with QEMU 7.2 (docs/hypervisor.md, Memory overhead): 40–43 MiB for the boot-sector guests,
    /// 110 MiB for the linux guest with 1 vCPU (48 MiB of it translation cache) and 118 MiB with 2. The base takes the
    /// worst case, linux with its translation cache full (126 MiB), plus about 15%; each vCPU measured 7.4 MiB, counted
    /// as 16 (a thread's stack and TCG state); each GiB of RAM adds 16 MiB (dirty bitmaps, page tables) as a margin
    /// that grows with the guest. KVM has no translation cache, so its processes take less.
    /// </summary>
    public static readonly MemoryOverheadFormula Formula = new(BaseMiB: 144, PerVCpuMiB: 16, PerGiBMiB: 16);

    public static long MiB(int vcpus, long memoryMiB) => Formula.MiB(vcpus, memoryMiB);
}
