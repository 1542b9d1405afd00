using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>A volume to create (<c>volume create</c>, or a VM's <c>--disk POOL:SIZE[:IMAGE]</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeSpec")]
public sealed record VolumeSpec
{
    /// <summary>The largest volume (64 TiB).</summary>
    public const long MaxSizeBytes = 64L << 40;

    [Id(0)]
    public required string Name { get; init; }

    /// <summary>The virtual size; with an image, at least the image's (null: the image's).</summary>
    [Id(1)]
    public long? SizeBytes { get; init; }

    /// <summary>An image of the same pool to clone.</summary>
    [Id(2)]
    public string? Image { get; init; }

    /// <summary>A full copy of the image instead of a linked clone.</summary>
    [Id(3)]
    public bool Full { get; init; }

    /// <summary>A local pool: the host to keep it on (null: the pool chooses).</summary>
    [Id(4)]
    public string? Host { get; init; }

    public VolumeSpec Validate()
    {
        Names.Require("name", Name);
        if (SizeBytes is null && Image is null)
        {
            throw FabricException.InvalidSpec("size", "is required (or give an image)");
        }

        if (SizeBytes is { } size)
        {
            RequireSize("size", size);
        }

        if (Image is not null)
        {
            Names.Require("image", Image);
        }
        else if (Full)
        {
            throw FabricException.InvalidSpec("full", "needs an image to copy");
        }

        if (Host is not null)
        {
            Names.Require("host", Host);
        }

        return this;
    }

    public static long RequireSize(string field, long size) =>
        size <= 0 || size % 512 != 0 || size > MaxSizeBytes
            ? throw FabricException.InvalidSpec(field, $"{size} bytes must be a positive multiple of 512 up to {Sizes.FormatBytes(MaxSizeBytes)}")
            : size;
}

[JsonConverter(typeof(JsonStringEnumConverter<VolumeState>))]
public enum VolumeState
{
    /// <summary>Its file is being made (the bytes are already counted).</summary>
    Creating,

    Ready,

    /// <summary>Its file is being removed.</summary>
    Deleting,
}

/// <summary>A volume as operators see it (<c>volume get -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeInfo")]
public sealed record VolumeInfo
{
    [Id(0)]
    public required string Pool { get; init; }

    [Id(1)]
    public required string Name { get; init; }

    /// <summary>The disk's size as the guest sees it.</summary>
    [Id(2)]
    public required long SizeBytes { get; init; }

    /// <summary>What its file occupies on disk (measured; null when its host could not be asked).</summary>
    [Id(3)]
    public long? PhysicalBytes { get; init; }

    [Id(4)]
    public required VolumeState State { get; init; }

    /// <summary>The host holding it (a local pool's volume); null in a shared pool.</summary>
    [Id(5)]
    public string? Host { get; init; }

    /// <summary>The image it was made from.</summary>
    [Id(6)]
    public string? Image { get; init; }

    /// <summary>How it was made from <see cref="Image"/>: <c>linked</c> (a qcow2 overlay on the image) or <c>full</c> (a copy); null when made empty.</summary>
    [Id(7)]
    public string? Provisioning { get; init; }

    /// <summary>The VM it is a disk of, or null.</summary>
    [Id(8)]
    public string? AttachedTo { get; init; }

    /// <summary>Made by its VM's create (<c>--disk POOL:SIZE</c>): deleted with that VM.</summary>
    [Id(9)]
    public bool DeleteWithVm { get; init; }

    [Id(10)]
    public DateTimeOffset CreatedAt { get; init; }

    [Id(11)]
    public string Format { get; init; } = "qcow2";
}

/// <summary>An image in a pool (<c>image list -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.ImageInfo")]
public sealed record ImageInfo
{
    [Id(0)]
    public required string Pool { get; init; }

    [Id(1)]
    public required string Name { get; init; }

    /// <summary><c>raw</c> or <c>qcow2</c>: probed once at import, and given explicitly ever after.</summary>
    [Id(2)]
    public required string Format { get; init; }

    [Id(3)]
    public required long VirtualBytes { get; init; }

    /// <summary>What the file occupies on each host.</summary>
    [Id(4)]
    public required long PhysicalBytes { get; init; }

    /// <summary>The hosts holding a copy (a local pool's image is copied to each host); empty in a shared pool.</summary>
    [Id(5)]
    public ImmutableArray<string> Hosts { get; init; } = [];

    /// <summary>Volumes cloned from it that still depend on it (linked clones).</summary>
    [Id(6)]
    public int LinkedClones { get; init; }

    [Id(7)]
    public DateTimeOffset CreatedAt { get; init; }
}
