using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>
/// A summary of every VM (its <see cref="VmInfo"/> without history), kept current by the VM grains, so the fleet can
/// be listed and selected by label without activating every VM and without a single grain holding all of them.
/// </summary>
public interface IVmCatalog
{
    Task UpsertAsync(VmInfo vm);

    Task RemoveAsync(string vm);

    Task<ImmutableArray<VmInfo>> ListAsync(LabelSelector selector);
}

/// <summary>One Redis hash: field = VM name, value = summary JSON; listing scans it in pages.</summary>
public sealed class RedisVmCatalog(IConnectionMultiplexer redis, string keyPrefix) : IVmCatalog
{
    private const int ScanPageSize = 1000;

    private RedisKey Key => $"{keyPrefix}vms";

    public Task UpsertAsync(VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        return redis.GetDatabase().HashSetAsync(Key, vm.Name, JsonSerializer.Serialize(vm, FabricJson.Options));
    }

    public Task RemoveAsync(string vm) => redis.GetDatabase().HashDeleteAsync(Key, vm);

    public async Task<ImmutableArray<VmInfo>> ListAsync(LabelSelector selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        var result = ImmutableArray.CreateBuilder<VmInfo>();
        await foreach (var entry in redis.GetDatabase().HashScanAsync(Key, pageSize: ScanPageSize))
        {
            var vm = JsonSerializer.Deserialize<VmInfo>(entry.Value.ToString(), FabricJson.Options)!;
            if (selector.Matches(vm.Labels))
            {
                result.Add(vm);
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result.ToImmutable();
    }
}

/// <summary>Process memory only: development mode and tests.</summary>
public sealed class InMemoryVmCatalog : IVmCatalog
{
    private readonly ConcurrentDictionary<string, VmInfo> _vms = new(StringComparer.Ordinal);

    public Task UpsertAsync(VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        _vms[vm.Name] = vm;
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
            .Where(vm => selector.Matches(vm.Labels))
            .OrderBy(vm => vm.Name, StringComparer.Ordinal)
            .ToImmutableArray());
    }
}
