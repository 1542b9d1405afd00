using System.Collections.Concurrent;
using System.Text.Json;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>
/// A host's reservations, one entry per VM, written entry by entry: a host with thousands of VMs must not rewrite one
/// growing blob on every reservation (grain state stays small and bounded).
/// </summary>
public interface IReservationLedger
{
    Task<IReadOnlyList<VmReservation>> LoadAsync(string host);

    Task SaveAsync(string host, VmReservation reservation);

    Task RemoveAsync(string host, string vm);
}

/// <summary>A Redis hash per host: field = VM name, value = the reservation as JSON.</summary>
public sealed class RedisReservationLedger(IConnectionMultiplexer redis, string keyPrefix) : IReservationLedger
{
    public async Task<IReadOnlyList<VmReservation>> LoadAsync(string host)
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(Key(host));
        return entries
            .Select(entry => JsonSerializer.Deserialize<VmReservation>(entry.Value.ToString(), FabricJson.Options)!)
            .ToList();
    }

    public Task SaveAsync(string host, VmReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        return redis.GetDatabase().HashSetAsync(Key(host), reservation.Vm, JsonSerializer.Serialize(reservation, FabricJson.Options));
    }

    public Task RemoveAsync(string host, string vm) => redis.GetDatabase().HashDeleteAsync(Key(host), vm);

    private RedisKey Key(string host) => $"{keyPrefix}hosts:{host}:reservations";
}

/// <summary>Process memory only: development mode and tests, lost with the process (like in-memory grain storage).</summary>
public sealed class InMemoryReservationLedger : IReservationLedger
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, VmReservation>> _hosts = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<VmReservation>> LoadAsync(string host) =>
        Task.FromResult<IReadOnlyList<VmReservation>>(Entries(host).Values.ToList());

    public Task SaveAsync(string host, VmReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        Entries(host)[reservation.Vm] = reservation;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string host, string vm)
    {
        Entries(host).TryRemove(vm, out _);
        return Task.CompletedTask;
    }

    private ConcurrentDictionary<string, VmReservation> Entries(string host) =>
        _hosts.GetOrAdd(host, _ => new(StringComparer.Ordinal));
}
