namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// What one VM's QEMU may use: CPU time of <see cref="VCpus"/> whole CPUs per period, its guest's RAM plus QEMU's own
/// overhead, and a bounded number of tasks (threads count: TCG QEMU runs about ten).
/// </summary>
public sealed record CgroupLimits(int VCpus, long MemoryMiB, int PidsMax)
{
    /// <summary>The CFS period: 100 ms, the kernel's default.</summary>
    public const long CpuPeriodMicros = 100_000;

    public long CpuQuotaMicros => VCpus * CpuPeriodMicros;

    public long MemoryBytes => MemoryMiB * 1024 * 1024;
}
