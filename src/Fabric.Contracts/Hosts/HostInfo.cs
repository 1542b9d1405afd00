using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

[JsonConverter(typeof(JsonStringEnumConverter<HostState>))]
public enum HostState
{
    /// <summary>Accepts new VMs.</summary>
    Ready,

    /// <summary>Runs its VMs but takes no new ones.</summary>
    Cordoned,

    /// <summary>Cordoned and moving its VMs away.</summary>
    Draining,

    /// <summary>Its silo is not in the cluster: its VMs are unreachable, not lost.</summary>
    Down,
}

/// <summary>An amount of compute: vCPUs and memory.</summary>
[GenerateSerializer, Immutable, Alias("fabric.Resources")]
public sealed record Resources([property: Id(0)] int VCpus, [property: Id(1)] long MemoryMiB)
{
    public static readonly Resources Zero = new(0, 0);

    public static Resources operator +(Resources a, Resources b) => new(a.VCpus + b.VCpus, a.MemoryMiB + b.MemoryMiB);

    public static Resources operator -(Resources a, Resources b) => new(a.VCpus - b.VCpus, a.MemoryMiB - b.MemoryMiB);

    /// <summary>Whether <paramref name="request"/> fits beside this allocation within <paramref name="capacity"/>.</summary>
    public bool Fits(Resources request, Resources capacity) =>
        VCpus + request.VCpus <= capacity.VCpus && MemoryMiB + request.MemoryMiB <= capacity.MemoryMiB;

    public override string ToString() => $"{VCpus} vCPU, {Sizes.FormatMiB(MemoryMiB)}";
}

/// <summary>
/// A host as operators see it (<c>host get -o json</c>) and as the scheduler sees it. Hosts push this summary to the
/// scheduler whenever it changes; <see cref="Sequence"/> orders the pushes.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.HostInfo")]
public sealed record HostInfo
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required HostState State { get; init; }

    /// <summary>What may be reserved: the machine's resources times the overcommit ratios.</summary>
    [Id(2)]
    public required Resources Capacity { get; init; }

    /// <summary>What the VMs placed here hold: their vCPUs, and their memory plus each one's <see cref="MemoryOverhead"/>.</summary>
    [Id(3)]
    public required Resources Allocated { get; init; }

    [Id(4)]
    public int VmCount { get; init; }

    /// <summary>The machine's own resources, before overcommit.</summary>
    [Id(5)]
    public Resources Physical { get; init; } = Resources.Zero;

    [Id(6)]
    public double CpuOvercommit { get; init; } = 1;

    [Id(7)]
    public double MemoryOvercommit { get; init; } = 1;

    /// <summary><c>kvm</c>, <c>tcg</c>, or <c>simulated</c>.</summary>
    [Id(8)]
    public string Accelerator { get; init; } = "";

    /// <summary>Why that accelerator was chosen.</summary>
    [Id(9)]
    public string AcceleratorReason { get; init; } = "";

    /// <summary><c>qemu</c>, or <c>simulated</c> for the fleet-scale simulation.</summary>
    [Id(10)]
    public string Driver { get; init; } = "";

    [Id(11)]
    public ImmutableArray<string> Images { get; init; } = [];

    [Id(12)]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>The VMs placed here; filled by <c>host get</c>, empty in the scheduler's summaries.</summary>
    [Id(13)]
    public ImmutableArray<string> Vms { get; init; } = [];

    /// <summary>Anti-affinity groups with a member on this host.</summary>
    [Id(14)]
    public ImmutableArray<string> AntiAffinityGroups { get; init; } = [];

    /// <summary>Affinity groups with a member on this host.</summary>
    [Id(15)]
    public ImmutableArray<string> AffinityGroups { get; init; } = [];

    /// <summary>Increases with every change of the host's reservations or state; newer summaries replace older ones.</summary>
    [Id(16)]
    public HostSequence Sequence { get; init; }

    /// <summary>When the host last reported, by its own clock (shown, never compared; for a Down host: when it was last seen).</summary>
    [Id(17)]
    public DateTimeOffset ReportedAt { get; init; }

    /// <summary>The silo serving this host, or empty when it is Down.</summary>
    [Id(18)]
    public string Silo { get; init; } = "";

    [Id(19)]
    public string HypervisorVersion { get; init; } = "";

    /// <summary>The address the host's silo listens on and advertises (its underlay address).</summary>
    [Id(20)]
    public string Address { get; init; } = "";

    /// <summary>The machine the host is bound to: the one that first served it (machine-id, or the Kubernetes node).</summary>
    [Id(21)]
    public string Machine { get; init; } = "";

    /// <summary>QEMU processes of this fabric on the host that no record places there; filled by <c>host get</c>.</summary>
    [Id(22)]
    public ImmutableArray<UnmanagedProcess> Unmanaged { get; init; } = [];

    /// <summary>Whether the host can realize virtual networks (its silo runs in a network namespace of its own).</summary>
    [Id(23)]
    public bool Networking { get; init; }

    /// <summary>The virtual networks realized on the host, as last observed; filled by <c>host get</c>.</summary>
    [Id(24)]
    public ImmutableArray<HostNetwork> Networks { get; init; } = [];

    /// <summary>The memory the host charges each VM beyond its RAM (its driver's formula): counted in <see cref="Allocated"/>.</summary>
    [Id(25)]
    public MemoryOverhead MemoryOverhead { get; init; } = MemoryOverhead.None;

    /// <summary>How much of <see cref="Allocated"/>'s memory is the VMs' overhead rather than their RAM.</summary>
    [Id(26)]
    public long AllocatedOverheadMiB { get; init; }

    public Resources Free => Capacity - Allocated;
}
