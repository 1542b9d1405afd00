using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.Grains.Storage;

/// <summary>Which pools exist (<see cref="IPoolDirectoryGrain"/>): a small persisted set, bounded by <see cref="IPoolDirectoryGrain.MaxPools"/>.</summary>
internal sealed class PoolDirectoryGrain(
    [PersistentState("pools", FabricPersistence.Name)] IPersistentState<PoolDirectoryRecord> state) : Grain, IPoolDirectoryGrain
{
    async Task IPoolDirectoryGrain.Add(string pool)
    {
        Names.Require("pool", pool);
        if (state.State.Pools.Contains(pool))
        {
            return;
        }

        if (state.State.Pools.Count >= IPoolDirectoryGrain.MaxPools)
        {
            throw FabricException.InsufficientCapacity($"the fabric holds {IPoolDirectoryGrain.MaxPools} pools, its limit");
        }

        await WriteAsync(new PoolDirectoryRecord { Pools = state.State.Pools.Add(pool) });
    }

    async Task IPoolDirectoryGrain.Remove(string pool)
    {
        if (state.State.Pools.Contains(pool))
        {
            await WriteAsync(new PoolDirectoryRecord { Pools = state.State.Pools.Remove(pool) });
        }
    }

    Task<ImmutableArray<string>> IPoolDirectoryGrain.List() =>
        Task.FromResult<ImmutableArray<string>>([.. state.State.Pools.Order(StringComparer.Ordinal)]);

    private async Task WriteAsync(PoolDirectoryRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            await state.ReadStateAsync();
            throw FabricException.Unavailable($"the pool directory could not be written ({failure.Message})");
        }
    }
}

/// <summary>The pool directory as stored (version 1).</summary>
[GenerateSerializer, Alias("fabric.PoolDirectoryRecord")]
public sealed class PoolDirectoryRecord
{
    [Id(0), System.Text.Json.Serialization.JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    [Id(1), System.Text.Json.Serialization.JsonPropertyName("pools")]
    public ImmutableHashSet<string> Pools { get; set; } = [];
}
