using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>
/// A host's own settings and counters (stored format, version 1), written by its host grain only. Small and bounded:
/// its VMs are in the ledger.
/// </summary>
public sealed record HostRow : IStoredRow
{
    public static int CurrentVersion => 1;

    [JsonPropertyName("v")]
    public int Version { get; init; } = CurrentVersion;

    /// <summary>Whether an operator cordoned the host: it takes no new VMs.</summary>
    [JsonPropertyName("cordoned")]
    public bool Cordoned { get; init; }

    /// <summary>Rises at every activation of the host grain: the first part of every sequence the host stamps.</summary>
    [JsonPropertyName("incarnation")]
    public long Incarnation { get; init; }

    /// <summary>The address the host's silo advertised when it last activated.</summary>
    [JsonPropertyName("address")]
    public string Address { get; init; } = "";
}

/// <summary>
/// Hosts' settings and the machine each host id is bound to. A host id is bound to the first machine that serves it;
/// another machine may serve it only after the host is forgotten.
/// </summary>
public interface IHostRegistry
{
    Task<HostRow?> GetAsync(string host);

    Task SaveAsync(string host, HostRow row);

    /// <summary>
    /// Binds <paramref name="host"/> to <paramref name="machine"/> unless it is bound already (atomically: of two
    /// machines claiming at once, one wins); returns the machine the host is bound to.
    /// </summary>
    Task<string> ClaimAsync(string host, string machine);

    /// <summary>The machine <paramref name="host"/> is bound to, or null.</summary>
    Task<string?> MachineOfAsync(string host);

    /// <summary>Removes the host's row and its machine binding.</summary>
    Task ForgetAsync(string host);
}

/// <summary>Two Redis hashes: <c>hosts</c> (field = host, value = row JSON) and <c>machines</c> (field = host, value = machine).</summary>
public sealed class RedisHostRegistry(IConnectionMultiplexer redis, string keyPrefix) : IHostRegistry
{
    private RedisKey Rows => $"{keyPrefix}hosts";

    private RedisKey Machines => $"{keyPrefix}machines";

    public async Task<HostRow?> GetAsync(string host)
    {
        var json = await redis.GetDatabase().HashGetAsync(Rows, host);
        return json.IsNull ? null : StoredFormat.Read<HostRow>(json.ToString(), $"host row '{host}'");
    }

    public Task SaveAsync(string host, HostRow row) =>
        redis.GetDatabase().HashSetAsync(Rows, host, StoredFormat.Write(row));

    public async Task<string> ClaimAsync(string host, string machine)
    {
        var database = redis.GetDatabase();
        await database.HashSetAsync(Machines, host, machine, When.NotExists);
        return (await database.HashGetAsync(Machines, host)).ToString();
    }

    public async Task<string?> MachineOfAsync(string host)
    {
        var machine = await redis.GetDatabase().HashGetAsync(Machines, host);
        return machine.IsNull ? null : machine.ToString();
    }

    public async Task ForgetAsync(string host)
    {
        var database = redis.GetDatabase();
        await database.HashDeleteAsync(Rows, host);
        await database.HashDeleteAsync(Machines, host);
    }
}

/// <summary>Process memory only: development mode and tests.</summary>
public sealed class InMemoryHostRegistry : IHostRegistry
{
    private readonly ConcurrentDictionary<string, string> _rows = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _machines = new(StringComparer.Ordinal);

    public Task<HostRow?> GetAsync(string host) =>
        Task.FromResult(_rows.TryGetValue(host, out var json) ? StoredFormat.Read<HostRow>(json, $"host row '{host}'") : null);

    public Task SaveAsync(string host, HostRow row)
    {
        _rows[host] = StoredFormat.Write(row);
        return Task.CompletedTask;
    }

    public Task<string> ClaimAsync(string host, string machine) => Task.FromResult(_machines.GetOrAdd(host, machine));

    public Task<string?> MachineOfAsync(string host) => Task.FromResult(_machines.TryGetValue(host, out var machine) ? machine : null);

    public Task ForgetAsync(string host)
    {
        _rows.TryRemove(host, out _);
        _machines.TryRemove(host, out _);
        return Task.CompletedTask;
    }
}
