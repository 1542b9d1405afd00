namespace Fabric.Contracts;

/// <summary>
/// How much memory a host charges a VM beyond its RAM for its hypervisor process, as its driver says: a formula of the
/// VM's size, so that the host's reservations and the scheduler's fit checks use the very same number.
/// </summary>
/// <param name="BaseMiB">What every VM's process takes, whatever its size.</param>
/// <param name="PerVCpuMiB">What each vCPU adds.</param>
/// <param name="PerGiBMiB">What each GiB of guest RAM adds, rounded up.</param>
[GenerateSerializer, Immutable, Alias("fabric.MemoryOverhead")]
public sealed record MemoryOverhead([property: Id(0)] long BaseMiB, [property: Id(1)] long PerVCpuMiB, [property: Id(2)] long PerGiBMiB)
{
    public static readonly MemoryOverhead None = new(0, 0, 0);

    /// <summary>The overhead of a VM of <paramref name="vcpus"/> vCPUs and <paramref name="memoryMiB"/> of RAM.</summary>
    public long MiB(int vcpus, long memoryMiB) => BaseMiB + (PerVCpuMiB * vcpus) + (((PerGiBMiB * memoryMiB) + 1023) / 1024);

    /// <summary>What a VM of <paramref name="resources"/> takes from a host: its vCPUs, and its RAM plus the overhead.</summary>
    public Resources Charge(Resources resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        return resources with { MemoryMiB = resources.MemoryMiB + MiB(resources.VCpus, resources.MemoryMiB) };
    }

    /// <summary>A request as a refusal names it: what it takes from a host, and how much of that is overhead.</summary>
    public string Describe(Resources resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var overhead = MiB(resources.VCpus, resources.MemoryMiB);
        return overhead == 0 ? resources.ToString() : $"{Charge(resources)} (with {Sizes.FormatMiB(overhead)} memory overhead)";
    }
}
