using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;

namespace Fabric.Grains.Scheduling;

/// <summary>
/// The scheduler's persisted inventory (grain state <c>inventory</c>, stored format version 1): the last summary of
/// every host that ever joined, so Down hosts stay listed after the scheduler moves.
/// </summary>
[GenerateSerializer, Alias("fabric.InventoryRecord")]
public sealed class InventoryRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    [Id(1), JsonPropertyName("hosts")]
    public Dictionary<string, HostSummaryRow> Hosts { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A host's last summary as stored (its VMs and unmanaged processes are not kept here).</summary>
[GenerateSerializer, Alias("fabric.HostSummaryRow")]
public sealed record HostSummaryRow
{
    [Id(0), JsonPropertyName("state")]
    public HostState State { get; init; }

    [Id(1), JsonPropertyName("capacityVCpus")]
    public int CapacityVCpus { get; init; }

    [Id(2), JsonPropertyName("capacityMemoryMiB")]
    public long CapacityMemoryMiB { get; init; }

    [Id(3), JsonPropertyName("allocatedVCpus")]
    public int AllocatedVCpus { get; init; }

    [Id(4), JsonPropertyName("allocatedMemoryMiB")]
    public long AllocatedMemoryMiB { get; init; }

    [Id(5), JsonPropertyName("physicalVCpus")]
    public int PhysicalVCpus { get; init; }

    [Id(6), JsonPropertyName("physicalMemoryMiB")]
    public long PhysicalMemoryMiB { get; init; }

    [Id(7), JsonPropertyName("vmCount")]
    public int VmCount { get; init; }

    [Id(8), JsonPropertyName("cpuOvercommit")]
    public double CpuOvercommit { get; init; }

    [Id(9), JsonPropertyName("memoryOvercommit")]
    public double MemoryOvercommit { get; init; }

    [Id(10), JsonPropertyName("accelerator")]
    public string Accelerator { get; init; } = "";

    [Id(11), JsonPropertyName("acceleratorReason")]
    public string AcceleratorReason { get; init; } = "";

    [Id(12), JsonPropertyName("driver")]
    public string Driver { get; init; } = "";

    [Id(13), JsonPropertyName("hypervisorVersion")]
    public string HypervisorVersion { get; init; } = "";

    [Id(14), JsonPropertyName("images")]
    public ImmutableArray<string> Images { get; init; } = [];

    [Id(15), JsonPropertyName("labels")]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    [Id(16), JsonPropertyName("antiAffinityGroups")]
    public ImmutableArray<string> AntiAffinityGroups { get; init; } = [];

    [Id(17), JsonPropertyName("affinityGroups")]
    public ImmutableArray<string> AffinityGroups { get; init; } = [];

    [Id(18), JsonPropertyName("incarnation")]
    public long Incarnation { get; init; }

    [Id(19), JsonPropertyName("sequence")]
    public long Sequence { get; init; }

    [Id(20), JsonPropertyName("reportedAt")]
    public DateTimeOffset ReportedAt { get; init; }

    [Id(21), JsonPropertyName("address")]
    public string Address { get; init; } = "";

    [Id(22), JsonPropertyName("machine")]
    public string Machine { get; init; } = "";

    [Id(23), JsonPropertyName("networking")]
    public bool Networking { get; init; }

    [Id(24), JsonPropertyName("overheadBaseMiB")]
    public long OverheadBaseMiB { get; init; }

    [Id(25), JsonPropertyName("overheadPerVCpuMiB")]
    public long OverheadPerVCpuMiB { get; init; }

    [Id(26), JsonPropertyName("overheadPerGiBMiB")]
    public long OverheadPerGiBMiB { get; init; }

    [Id(27), JsonPropertyName("allocatedOverheadMiB")]
    public long AllocatedOverheadMiB { get; init; }

    public static HostSummaryRow From(HostInfo host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return new HostSummaryRow
        {
            State = host.State,
            CapacityVCpus = host.Capacity.VCpus,
            CapacityMemoryMiB = host.Capacity.MemoryMiB,
            AllocatedVCpus = host.Allocated.VCpus,
            AllocatedMemoryMiB = host.Allocated.MemoryMiB,
            PhysicalVCpus = host.Physical.VCpus,
            PhysicalMemoryMiB = host.Physical.MemoryMiB,
            VmCount = host.VmCount,
            CpuOvercommit = host.CpuOvercommit,
            MemoryOvercommit = host.MemoryOvercommit,
            Accelerator = host.Accelerator,
            AcceleratorReason = host.AcceleratorReason,
            Driver = host.Driver,
            HypervisorVersion = host.HypervisorVersion,
            Images = host.Images,
            Labels = host.Labels,
            AntiAffinityGroups = host.AntiAffinityGroups,
            AffinityGroups = host.AffinityGroups,
            Incarnation = host.Sequence.Incarnation,
            Sequence = host.Sequence.Number,
            ReportedAt = host.ReportedAt,
            Address = host.Address,
            Machine = host.Machine,
            Networking = host.Networking,
            OverheadBaseMiB = host.MemoryOverhead.BaseMiB,
            OverheadPerVCpuMiB = host.MemoryOverhead.PerVCpuMiB,
            OverheadPerGiBMiB = host.MemoryOverhead.PerGiBMiB,
            AllocatedOverheadMiB = host.AllocatedOverheadMiB,
        };
    }

    public HostInfo ToInfo(string name) => new()
    {
        Name = name,
        State = State,
        Capacity = new Resources(CapacityVCpus, CapacityMemoryMiB),
        Allocated = new Resources(AllocatedVCpus, AllocatedMemoryMiB),
        Physical = new Resources(PhysicalVCpus, PhysicalMemoryMiB),
        VmCount = VmCount,
        CpuOvercommit = CpuOvercommit,
        MemoryOvercommit = MemoryOvercommit,
        Accelerator = Accelerator,
        AcceleratorReason = AcceleratorReason,
        Driver = Driver,
        HypervisorVersion = HypervisorVersion,
        Images = Images,
        Labels = Labels,
        AntiAffinityGroups = AntiAffinityGroups,
        AffinityGroups = AffinityGroups,
        Sequence = new HostSequence(Incarnation, Sequence),
        ReportedAt = ReportedAt,
        Address = Address,
        Machine = Machine,
        Networking = Networking,
        MemoryOverhead = new MemoryOverhead(OverheadBaseMiB, OverheadPerVCpuMiB, OverheadPerGiBMiB),
        AllocatedOverheadMiB = AllocatedOverheadMiB,
    };
}
