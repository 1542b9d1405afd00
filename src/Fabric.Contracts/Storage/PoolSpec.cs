using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>Where a pool's files live.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PoolType>))]
public enum PoolType
{
    /// <summary>A directory on each host (<c>PATH/&lt;host&gt;</c>): a volume lives on one host, and its VM runs there.</summary>
    Local,

    /// <summary>One directory every host sees (NFS, CephFS): volumes move with no copy, VMs run anywhere.</summary>
    Shared,
}

/// <summary>What an operator asks for when creating a pool (<c>pool create</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.PoolSpec")]
public sealed record PoolSpec
{
    public const int MaxPathLength = 200;
    public const double DefaultOvercommit = 1.0;
    public const double MaxOvercommit = 100;

    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public PoolType Type { get; init; }

    /// <summary>An absolute directory on the hosts (a shared pool's is the same file system on every host).</summary>
    [Id(2)]
    public required string Path { get; init; }

    /// <summary>The pool's capacity; null: the size of the file system holding it, measured at creation.</summary>
    [Id(3)]
    public long? CapacityBytes { get; init; }

    /// <summary>How far virtual allocation may exceed capacity (1: not at all; thin volumes make more safe until they fill).</summary>
    [Id(4)]
    public double Overcommit { get; init; } = DefaultOvercommit;

    /// <summary>The most virtual bytes one VM may hold in this pool; null: no limit.</summary>
    [Id(5)]
    public long? QuotaPerVmBytes { get; init; }

    /// <summary>Checks every field; throws <c>invalid-spec</c> naming the first bad one.</summary>
    public PoolSpec Validate()
    {
        Names.Require("name", Name);
        if (!Enum.IsDefined(Type))
        {
            throw FabricException.InvalidSpec("type", $"'{Type}' is not local or shared");
        }

        StoragePaths.RequireAbsolute("path", Path);
        if (CapacityBytes is { } capacity && capacity <= 0)
        {
            throw FabricException.InvalidSpec("capacity", $"{capacity} must be positive");
        }

        if (double.IsNaN(Overcommit) || Overcommit < 1 || Overcommit > MaxOvercommit)
        {
            throw FabricException.InvalidSpec("overcommit", $"{Overcommit} is out of range 1–{MaxOvercommit}");
        }

        if (QuotaPerVmBytes is { } quota && quota <= 0)
        {
            throw FabricException.InvalidSpec("quotaPerVm", $"{quota} must be positive");
        }

        return this;
    }
}

/// <summary>A pool as operators see it (<c>pool get -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.PoolInfo")]
public sealed record PoolInfo
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required PoolType Type { get; init; }

    [Id(2)]
    public required string Path { get; init; }

    [Id(3)]
    public required long CapacityBytes { get; init; }

    [Id(4)]
    public required double Overcommit { get; init; }

    /// <summary>Capacity times overcommit: what the volumes' virtual sizes may add up to.</summary>
    [Id(5)]
    public required long LimitBytes { get; init; }

    /// <summary>The virtual sizes of the pool's volumes plus its images' sizes (what the limit is checked against).</summary>
    [Id(6)]
    public required long AllocatedBytes { get; init; }

    /// <summary>What the pool's files really occupy on disk, measured from the files (as of <see cref="MeasuredAt"/>).</summary>
    [Id(7)]
    public required long UsedBytes { get; init; }

    [Id(8)]
    public DateTimeOffset? MeasuredAt { get; init; }

    [Id(9)]
    public long? QuotaPerVmBytes { get; init; }

    [Id(10)]
    public int Volumes { get; init; }

    [Id(11)]
    public int Images { get; init; }

    [Id(12)]
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Hosts that could not be measured just now (their files count as last measured).</summary>
    [Id(13)]
    public System.Collections.Immutable.ImmutableArray<string> Unmeasured { get; init; } = [];
}

/// <summary>Checks on paths operators give (pool directories, files to import).</summary>
public static class StoragePaths
{
    /// <summary>Throws <c>invalid-spec</c> unless <paramref name="path"/> is an absolute, normalized path without <c>..</c>.</summary>
    public static string RequireAbsolute(string field, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw FabricException.InvalidSpec(field, "is required");
        }

        if (path.Length > PoolSpec.MaxPathLength)
        {
            throw FabricException.InvalidSpec(field, $"is {path.Length} characters long; the limit is {PoolSpec.MaxPathLength}");
        }

        if (path.Any(char.IsControl) || path.Contains(','))
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(path)}' contains a control character or a comma");
        }

        if (!path.StartsWith('/') || path.Split('/').Any(segment => segment is "." or ".."))
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(path)}' must be an absolute path without '.' or '..' segments");
        }

        return path.Length > 1 ? path.TrimEnd('/') : path;
    }
}
