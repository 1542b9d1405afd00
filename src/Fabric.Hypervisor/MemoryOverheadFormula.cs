namespace Fabric.Hypervisor;

/// <summary>
/// How much memory a VM's process takes beyond its guest's RAM, as a formula of the VM's size, so that a host counts
/// it in its capacity and the scheduler checks a fit with the very same number (the fabric carries it as
/// <c>Fabric.Contracts.MemoryOverhead</c>).
/// </summary>
/// <param name="BaseMiB">What every process takes, whatever its size.</param>
/// <param name="PerVCpuMiB">What each vCPU adds (its thread, its stack, its TLB and state).</param>
/// <param name="PerGiBMiB">What each GiB of guest RAM adds (page tables, dirty bitmaps), rounded up.</param>
public sealed record MemoryOverheadFormula(long BaseMiB, long PerVCpuMiB, long PerGiBMiB)
{
    /// <summary>The overhead of a process of <paramref name="vcpus"/> vCPUs and <paramref name="memoryMiB"/> of RAM.</summary>
    public long MiB(int vcpus, long memoryMiB) => BaseMiB + (PerVCpuMiB * vcpus) + (((PerGiBMiB * memoryMiB) + 1023) / 1024);
}
