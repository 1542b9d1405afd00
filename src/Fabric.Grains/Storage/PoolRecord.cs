using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;

namespace Fabric.Grains.Storage;

/// <summary>
/// A pool's persisted record (grain state <c>pool</c>, stored format version 1): its spec, and a row per volume and
/// image (bounded by <see cref="MaxVolumes"/> and <see cref="MaxImages"/>). Field names are fixed here, apart from the
/// wire types in Contracts.
/// </summary>
[GenerateSerializer, Alias("fabric.PoolRecord")]
public sealed class PoolRecord
{
    public const int MaxVolumes = 4096;
    public const int MaxImages = 256;

    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    /// <summary>Null when the pool does not exist.</summary>
    [Id(1), JsonPropertyName("type")]
    public PoolType? Type { get; set; }

    [Id(2), JsonPropertyName("path")]
    public string Path { get; set; } = "";

    [Id(3), JsonPropertyName("capacityBytes")]
    public long CapacityBytes { get; set; }

    [Id(4), JsonPropertyName("overcommit")]
    public double Overcommit { get; set; } = PoolSpec.DefaultOvercommit;

    [Id(5), JsonPropertyName("quotaPerVmBytes")]
    public long? QuotaPerVmBytes { get; set; }

    [Id(6), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; set; }

    [Id(7), JsonPropertyName("volumes")]
    public ImmutableDictionary<string, VolumeRow> Volumes { get; set; } = ImmutableDictionary<string, VolumeRow>.Empty;

    [Id(8), JsonPropertyName("images")]
    public ImmutableDictionary<string, ImageRow> Images { get; set; } = ImmutableDictionary<string, ImageRow>.Empty;

    [JsonIgnore]
    public bool Exists => Type is not null;

    /// <summary>What the limit is checked against: every volume's virtual size (creating ones included) and every image copy's size.</summary>
    [JsonIgnore]
    public long AllocatedBytes =>
        Volumes.Values.Sum(v => v.SizeBytes + (v.Copy?.SizeBytes ?? 0)) + Images.Values.Sum(i => i.PhysicalBytes * Math.Max(1, i.Hosts.Length));

    [JsonIgnore]
    public long LimitBytes => (long)Math.Min(long.MaxValue / 2, Math.Floor(CapacityBytes * Overcommit));

    public PoolLocation Location(string pool) => new(pool, Type ?? PoolType.Shared, Path);

    /// <summary>A copy to change and then write: the record in memory changes only once the copy is written.</summary>
    public PoolRecord Copy() => (PoolRecord)MemberwiseClone();
}

/// <summary>A volume as its pool stores it.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeRow")]
public sealed record VolumeRow
{
    [Id(0), JsonPropertyName("sizeBytes")]
    public required long SizeBytes { get; init; }

    [Id(1), JsonPropertyName("state")]
    public required VolumeState State { get; init; }

    /// <summary>A local pool's volume: the host holding its file.</summary>
    [Id(2), JsonPropertyName("host")]
    public string? Host { get; init; }

    [Id(3), JsonPropertyName("image")]
    public string? Image { get; init; }

    [Id(4), JsonPropertyName("provisioning")]
    public string? Provisioning { get; init; }

    [Id(5), JsonPropertyName("attachedTo")]
    public string? AttachedTo { get; init; }

    [Id(6), JsonPropertyName("deleteWithVm")]
    public bool DeleteWithVm { get; init; }

    [Id(7), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>A copy of the file being made on another host (a live migration's disk mirror), counted while it exists.</summary>
    [Id(8), JsonPropertyName("copy")]
    public VolumeCopyRow? Copy { get; init; }
}

/// <summary>A volume's file being copied to another host for a migration.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeCopyRow")]
public sealed record VolumeCopyRow(
    [property: Id(0), JsonPropertyName("host")] string Host,
    [property: Id(1), JsonPropertyName("sizeBytes")] long SizeBytes,
    [property: Id(2), JsonPropertyName("migration")] string Migration);

/// <summary>An image as its pool stores it.</summary>
[GenerateSerializer, Immutable, Alias("fabric.ImageRow")]
public sealed record ImageRow
{
    [Id(0), JsonPropertyName("format")]
    public required string Format { get; init; }

    [Id(1), JsonPropertyName("virtualBytes")]
    public required long VirtualBytes { get; init; }

    [Id(2), JsonPropertyName("physicalBytes")]
    public required long PhysicalBytes { get; init; }

    /// <summary>A local pool's image: the hosts holding a copy.</summary>
    [Id(3), JsonPropertyName("hosts")]
    public ImmutableArray<string> Hosts { get; init; } = [];

    [Id(4), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }
}
