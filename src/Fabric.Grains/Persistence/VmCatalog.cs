using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>One VM's summary in the catalog (stored format, version 1): what listings show, without history.</summary>
public sealed record CatalogRow : IStoredRow
{
    public static int CurrentVersion => 1;

    [JsonPropertyName("v")]
    public int Version { get; init; } = CurrentVersion;

    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("state")]
    public required VmState State { get; init; }

    [JsonPropertyName("host")]
    public required string Host { get; init; }

    [JsonPropertyName("epoch")]
    public long Epoch { get; init; }

    [JsonPropertyName("vcpus")]
    public int VCpus { get; init; }

    [JsonPropertyName("memoryMiB")]
    public int MemoryMiB { get; init; }

    [JsonPropertyName("image")]
    public required string Image { get; init; }

    [JsonPropertyName("labels")]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    [JsonPropertyName("placement")]
    public PlacementRow? Placement { get; init; }

    [JsonPropertyName("reason")]
    public string? Reason { get; init; }

    [JsonPropertyName("since")]
    public DateTimeOffset Since { get; init; }

    [JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    [JsonPropertyName("pid")]
    public int? Pid { get; init; }

    [JsonPropertyName("instanceId")]
    public Guid? InstanceId { get; init; }

    /// <summary>Rows written before projects are of the default one.</summary>
    [JsonPropertyName("project")]
    public string Project { get; init; } = ProjectInfo.Default;

    public static CatalogRow From(VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        return new CatalogRow
        {
            Name = vm.Name,
            State = vm.State,
            Host = vm.Host,
            Epoch = vm.Epoch,
            VCpus = vm.VCpus,
            MemoryMiB = vm.MemoryMiB,
            Image = vm.Image,
            Labels = vm.Labels,
            Placement = vm.Placement == VmPlacement.None ? null : PlacementRow.From(vm.Placement),
            Reason = vm.Reason,
            Since = vm.Since,
            CreatedAt = vm.CreatedAt,
            Pid = vm.Pid,
            InstanceId = vm.InstanceId,
            Project = vm.Project,
        };
    }

    public VmInfo ToInfo() => new()
    {
        Name = Name,
        State = State,
        Host = Host,
        Epoch = Epoch,
        VCpus = VCpus,
        MemoryMiB = MemoryMiB,
        Image = Image,
        Labels = Labels,
        Placement = Placement?.ToPlacement() ?? VmPlacement.None,
        Reason = Reason,
        Since = Since,
        CreatedAt = CreatedAt,
        Pid = Pid,
        InstanceId = InstanceId,
        Project = Project,
    };
}

/// <summary>A VM's placement constraints as stored (in catalog rows and VM records).</summary>
[GenerateSerializer, Alias("fabric.PlacementRow")]
public sealed record PlacementRow
{
    [Id(0), JsonPropertyName("host")]
    public string? Host { get; init; }

    [Id(1), JsonPropertyName("policy")]
    public PlacementPolicy Policy { get; init; }

    [Id(2), JsonPropertyName("antiAffinityGroup")]
    public string? AntiAffinityGroup { get; init; }

    [Id(3), JsonPropertyName("affinityGroup")]
    public string? AffinityGroup { get; init; }

    [Id(4), JsonPropertyName("hostSelector")]
    public ImmutableSortedDictionary<string, string> HostSelector { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    public static PlacementRow From(VmPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(placement);
        return new PlacementRow
        {
            Host = placement.Host,
            Policy = placement.Policy,
            AntiAffinityGroup = placement.AntiAffinityGroup,
            AffinityGroup = placement.AffinityGroup,
            HostSelector = placement.HostSelector,
        };
    }

    public VmPlacement ToPlacement() => new()
    {
        Host = Host,
        Policy = Policy,
        AntiAffinityGroup = AntiAffinityGroup,
        AffinityGroup = AffinityGroup,
        HostSelector = HostSelector,
    };
}

/// <summary>
/// A summary of every VM, kept current by the VM grains, so the fleet can be listed and selected by label without
/// activating every VM and without a single grain holding all of them. An index, not the truth: the catalog auditor
/// restores rows that are missing and removes rows whose VM is gone.
/// </summary>
public interface IVmCatalog
{
    Task UpsertAsync(VmInfo vm);

    Task RemoveAsync(string vm);

    Task<ImmutableArray<VmInfo>> ListAsync(LabelSelector selector);
}

/// <summary>One Redis hash: field = VM name, value = the row as JSON; listing scans it in pages.</summary>
public sealed class RedisVmCatalog(IConnectionMultiplexer redis, string keyPrefix) : IVmCatalog
{
    private const int ScanPageSize = 1000;

    private RedisKey Key => $"{keyPrefix}vms";

    public Task UpsertAsync(VmInfo vm) =>
        redis.GetDatabase().HashSetAsync(Key, vm?.Name, StoredFormat.Write(CatalogRow.From(vm!)));

    public Task RemoveAsync(string vm) => redis.GetDatabase().HashDeleteAsync(Key, vm);

    public async Task<ImmutableArray<VmInfo>> ListAsync(LabelSelector selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        var result = ImmutableArray.CreateBuilder<VmInfo>();
        await foreach (var entry in redis.GetDatabase().HashScanAsync(Key, pageSize: ScanPageSize))
        {
            var row = StoredFormat.Read<CatalogRow>(entry.Value.ToString(), $"catalog row '{entry.Name}'");
            if (selector.Matches(row.Labels))
            {
                result.Add(row.ToInfo());
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result.ToImmutable();
    }
}

/// <summary>Process memory only: development mode and tests (rows are kept as stored, in their JSON).</summary>
public sealed class InMemoryVmCatalog : IVmCatalog
{
    private readonly ConcurrentDictionary<string, string> _vms = new(StringComparer.Ordinal);

    public Task UpsertAsync(VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        _vms[vm.Name] = StoredFormat.Write(CatalogRow.From(vm));
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string vm)
    {
        _vms.TryRemove(vm, out _);
        return Task.CompletedTask;
    }

    public Task<ImmutableArray<VmInfo>> ListAsync(LabelSelector selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Task.FromResult(_vms.Values
            .Select(json => StoredFormat.Read<CatalogRow>(json, "catalog row"))
            .Where(row => selector.Matches(row.Labels))
            .Select(row => row.ToInfo())
            .OrderBy(vm => vm.Name, StringComparer.Ordinal)
            .ToImmutableArray());
    }
}
