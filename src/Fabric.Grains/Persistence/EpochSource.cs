using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>
/// Hands out placement epochs: one counter for the whole fabric, so an epoch is never reused, not even by a VM
/// deleted and created again under the same name (a host that returns with a process of the old VM finds its epoch
/// superseded).
/// </summary>
public interface IEpochSource
{
    Task<long> NextAsync();
}

/// <summary>A Redis counter (<c>INCR</c>: atomic across silos).</summary>
public sealed class RedisEpochSource(IConnectionMultiplexer redis, string keyPrefix) : IEpochSource
{
    public Task<long> NextAsync() => redis.GetDatabase().StringIncrementAsync($"{keyPrefix}epoch");
}

/// <summary>Process memory only: development mode and tests (one instance shared by the silos of a test cluster).</summary>
public sealed class InMemoryEpochSource : IEpochSource
{
    private long _last;

    public Task<long> NextAsync() => Task.FromResult(Interlocked.Increment(ref _last));
}
