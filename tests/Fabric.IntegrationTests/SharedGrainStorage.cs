using System.Collections.Concurrent;
using Orleans.Storage;

namespace Fabric.IntegrationTests;

/// <summary>
/// Grain storage shared by every silo of one test cluster, standing in for Redis: unlike Orleans' memory storage
/// (whose data lives in grains on the silos), it survives a silo being killed. Entries are serialized, never shared.
/// </summary>
public sealed class SharedGrainStorage(IGrainStorageSerializer serializer, ConcurrentDictionary<string, (BinaryData Data, string ETag)> entries) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        if (entries.TryGetValue(Key(stateName, grainId), out var entry))
        {
            grainState.State = serializer.Deserialize<T>(entry.Data);
            grainState.ETag = entry.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        var key = Key(stateName, grainId);
        var etag = Guid.NewGuid().ToString("N");
        var data = serializer.Serialize(grainState.State);
        entries.AddOrUpdate(
            key,
            _ => grainState.ETag is null ? (data, etag) : throw new InconsistentStateException($"{key}: no entry for etag {grainState.ETag}"),
            (_, existing) => existing.ETag == grainState.ETag ? (data, etag) : throw new InconsistentStateException($"{key}: etag {grainState.ETag} is stale"));
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        ArgumentNullException.ThrowIfNull(grainState);
        entries.TryRemove(Key(stateName, grainId), out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static string Key(string stateName, GrainId grainId) => $"{grainId}/{stateName}";
}
