using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.Grains.Vm;

/// <summary>
/// A VM's persisted record (grain state <c>vm</c>, stored format version 1). Small and bounded: the history keeps the
/// last <see cref="MaxHistory"/> transitions. Field names are fixed here, apart from the wire types in Contracts.
/// </summary>
[GenerateSerializer, Alias("fabric.VmRecord")]
public sealed class VmRecord
{
    public const int MaxHistory = 8;

    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    /// <summary>The validated spec; null when the VM does not exist.</summary>
    [Id(1), JsonPropertyName("spec")]
    public VmSpecRow? Spec { get; set; }

    [Id(2), JsonPropertyName("state")]
    public VmState State { get; set; }

    /// <summary>The host holding the VM's reservation; empty when the VM is placed nowhere.</summary>
    [Id(3), JsonPropertyName("host")]
    public string Host { get; set; } = "";

    /// <summary>The placement epoch: rises at every change of host assignment.</summary>
    [Id(4), JsonPropertyName("epoch")]
    public long Epoch { get; set; }

    /// <summary>The process the VM should have (set at start); reports of other processes are stale.</summary>
    [Id(5), JsonPropertyName("instanceId")]
    public Guid? InstanceId { get; set; }

    [Id(6), JsonPropertyName("pid")]
    public int? Pid { get; set; }

    [Id(7), JsonPropertyName("reason")]
    public string? Reason { get; set; }

    [Id(8), JsonPropertyName("since")]
    public DateTimeOffset Since { get; set; }

    [Id(9), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The host incarnation of the latest observation applied from <see cref="Host"/>.</summary>
    [Id(10), JsonPropertyName("lastObservedIncarnation")]
    public long LastObservedIncarnation { get; set; }

    /// <summary>The sequence number, within its incarnation, of the latest observation applied from <see cref="Host"/>.</summary>
    [Id(13), JsonPropertyName("lastObservedNumber")]
    public long LastObservedNumber { get; set; }

    /// <summary>The latest observation applied from <see cref="Host"/>; older ones arriving late are ignored.</summary>
    [JsonIgnore]
    public HostSequence LastObserved
    {
        get => new(LastObservedIncarnation, LastObservedNumber);
        set => (LastObservedIncarnation, LastObservedNumber) = (value.Incarnation, value.Number);
    }

    /// <summary>The request under way (Starting or Stopping), with its deadline; null when the VM is settled.</summary>
    [Id(11), JsonPropertyName("pending")]
    public PendingRequest? Pending { get; set; }

    [Id(12), JsonPropertyName("history")]
    public List<VmHistoryRow> History { get; set; } = [];

    /// <summary>The live migration under way (state Migrating); null otherwise.</summary>
    [Id(14), JsonPropertyName("migration")]
    public MigrationRow? Migration { get; set; }

    /// <summary>The VM's snapshots, oldest first (at most <see cref="SnapshotLimits.MaxPerVm"/>; see <see cref="SnapshotRow"/>).</summary>
    [Id(40), JsonPropertyName("snapshots")]
    public ImmutableArray<SnapshotRow> Snapshots { get; set; } = [];

    /// <summary>The VM's disks, by slot (at most <see cref="VmDisk.MaxPerVm"/>).</summary>
    [Id(41), JsonPropertyName("disks")]
    public ImmutableArray<DiskRow> Disks { get; set; } = [];

    /// <summary>The VM's NICs, by slot (at most <see cref="VmNic.MaxPerVm"/>).</summary>
    [Id(42), JsonPropertyName("nics")]
    public ImmutableArray<NicRow> Nics { get; set; } = [];

    [JsonIgnore]
    public bool Exists => Spec is not null;

    [JsonIgnore]
    public bool Placed => Host.Length > 0;

    /// <summary>A copy to change and then commit: the record in memory changes only once the copy is written.</summary>
    public VmRecord Copy()
    {
        var copy = (VmRecord)MemberwiseClone();
        copy.History = [.. History];
        return copy;
    }

    public VmAssignment Assignment(string vm) => new(vm, Host, Epoch, InstanceId ?? Guid.Empty);
}

/// <summary>A request that moved the VM into a transitional state, persisted so it is driven to an end after any crash.</summary>
[GenerateSerializer, Alias("fabric.PendingRequest")]
public sealed record PendingRequest
{
    [Id(0), JsonPropertyName("action")]
    public required VmAction Action { get; init; }

    /// <summary>The state before the request: where a start the host never received returns to.</summary>
    [Id(1), JsonPropertyName("from")]
    public required VmState From { get; init; }

    /// <summary>After this, the host's answer settles the request even where it could still have been in flight.</summary>
    [Id(2), JsonPropertyName("deadline")]
    public required DateTimeOffset Deadline { get; init; }

    /// <summary>A stop: until when the guest may power itself off; after it, the stop is forced.</summary>
    [Id(3), JsonPropertyName("graceUntil")]
    public DateTimeOffset GraceUntil { get; init; }

    /// <summary>A restore: the instance the VM had before it, which a restore its host never received returns to.</summary>
    [Id(40), JsonPropertyName("previousInstanceId"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Guid? PreviousInstanceId { get; init; }
}

/// <summary>
/// A migration under way as the VM records it: which placements belong to it (the source's and the target's epochs,
/// whose reports are expected rather than fenced) and whether the switch-over has committed.
/// </summary>
[GenerateSerializer, Alias("fabric.MigrationRow")]
public sealed record MigrationRow
{
    [Id(0), JsonPropertyName("id")]
    public required string Id { get; init; }

    [Id(1), JsonPropertyName("phase")]
    public required MigrationPhase Phase { get; init; }

    [Id(2), JsonPropertyName("sourceHost")]
    public required string SourceHost { get; init; }

    [Id(3), JsonPropertyName("sourceEpoch")]
    public required long SourceEpoch { get; init; }

    /// <summary>0 until the coordinator has drawn it.</summary>
    [Id(4), JsonPropertyName("targetEpoch")]
    public long TargetEpoch { get; init; }

    [Id(5), JsonPropertyName("targetHost")]
    public string? TargetHost { get; init; }

    [Id(6), JsonPropertyName("committed")]
    public bool Committed { get; init; }

    [Id(7), JsonPropertyName("wasRunning")]
    public bool WasRunning { get; init; }

    /// <summary>Whether <paramref name="epoch"/> is one of this migration's placements.</summary>
    public bool Owns(long epoch) => epoch == SourceEpoch || (TargetEpoch != 0 && epoch == TargetEpoch);
}

/// <summary>One disk of a VM as stored: the volume, where its pool is, and whether it goes with the VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.DiskRow")]
public sealed record DiskRow
{
    [Id(0), JsonPropertyName("slot")]
    public required int Slot { get; init; }

    [Id(1), JsonPropertyName("pool")]
    public required string Pool { get; init; }

    [Id(2), JsonPropertyName("type")]
    public required PoolType Type { get; init; }

    [Id(3), JsonPropertyName("path")]
    public required string Path { get; init; }

    [Id(4), JsonPropertyName("volume")]
    public required string Volume { get; init; }

    [Id(5), JsonPropertyName("sizeBytes")]
    public required long SizeBytes { get; init; }

    [Id(6), JsonPropertyName("deleteWithVm")]
    public bool DeleteWithVm { get; init; }

    public PoolLocation Location => new(Pool, Type, Path);

    public DiskPlacement Placement => new(Slot, Location, Volume);

    public VmDisk ToDisk() => new() { Pool = Pool, Volume = Volume, SizeBytes = SizeBytes, Slot = Slot, DeleteWithVm = DeleteWithVm };
}

/// <summary>One NIC of a VM as stored: what its network allocated (address, MAC) and what its host plugs in.</summary>
[GenerateSerializer, Immutable, Alias("fabric.NicRow")]
public sealed record NicRow
{
    [Id(0), JsonPropertyName("slot")]
    public required int Slot { get; init; }

    [Id(1), JsonPropertyName("network")]
    public required string Network { get; init; }

    [Id(2), JsonPropertyName("vni")]
    public required int Vni { get; init; }

    [Id(3), JsonPropertyName("ip")]
    public required string Ip { get; init; }

    [Id(4), JsonPropertyName("mac")]
    public required string Mac { get; init; }

    [Id(5), JsonPropertyName("mtu")]
    public required int Mtu { get; init; }

    [Id(6), JsonPropertyName("prefixLength")]
    public required int PrefixLength { get; init; }

    public NicPlacement Placement => new(Slot, Network, Vni, Ip, Mac, Mtu, PrefixLength);

    public static NicRow From(NicPlacement nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        return new NicRow { Slot = nic.Slot, Network = nic.Network, Vni = nic.Vni, Ip = nic.Ip, Mac = nic.Mac, Mtu = nic.Mtu, PrefixLength = nic.PrefixLength };
    }
}

/// <summary>One lifecycle transition as stored.</summary>
[GenerateSerializer, Alias("fabric.VmHistoryRow")]
public sealed record VmHistoryRow(
    [property: Id(0), JsonPropertyName("at")] DateTimeOffset At,
    [property: Id(1), JsonPropertyName("from")] VmState From,
    [property: Id(2), JsonPropertyName("to")] VmState To,
    [property: Id(3), JsonPropertyName("reason")] string? Reason)
{
    public VmHistoryEntry ToEntry() => new(At, From, To, Reason);
}

/// <summary>A VM's spec as stored.</summary>
[GenerateSerializer, Alias("fabric.VmSpecRow")]
public sealed record VmSpecRow
{
    [Id(0), JsonPropertyName("name")]
    public required string Name { get; init; }

    [Id(1), JsonPropertyName("image")]
    public required string Image { get; init; }

    [Id(2), JsonPropertyName("vcpus")]
    public int VCpus { get; init; }

    [Id(3), JsonPropertyName("memoryMiB")]
    public int MemoryMiB { get; init; }

    [Id(4), JsonPropertyName("labels")]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    [Id(5), JsonPropertyName("placement")]
    public PlacementRow? Placement { get; init; }

    /// <summary>The project the VM is charged to (records written before projects are in the default one).</summary>
    [Id(6), JsonPropertyName("project")]
    public string Project { get; init; } = ProjectInfo.Default;

    public static VmSpecRow From(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new VmSpecRow
        {
            Name = spec.Name,
            Image = spec.Image,
            VCpus = spec.VCpus,
            MemoryMiB = spec.MemoryMiB,
            Labels = spec.Labels,
            Placement = spec.Placement == VmPlacement.None ? null : PlacementRow.From(spec.Placement),
            Project = spec.Project,
        };
    }

    public VmPlacement ToPlacement() => Placement?.ToPlacement() ?? VmPlacement.None;
}
