using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>What one VM is charged to its project (stored format, version 1).</summary>
public sealed record ChargeRow : IStoredRow
{
    public static int CurrentVersion => 1;

    [JsonPropertyName("v")]
    public int Version { get; init; } = CurrentVersion;

    [JsonPropertyName("vcpus")]
    public required int VCpus { get; init; }

    [JsonPropertyName("memoryMiB")]
    public required long MemoryMiB { get; init; }
}

/// <summary>
/// Each project's charges: one row per VM, written row by row. The default project may hold every VM of the fleet, and
/// a charge must not rewrite them all (the project grain's own state stays small, as the host grain's does).
/// </summary>
public interface IProjectCharges
{
    Task<IReadOnlyDictionary<string, ChargeRow>> LoadAsync(string project);

    Task SaveAsync(string project, string vm, ChargeRow charge);

    Task RemoveAsync(string project, string vm);
}

/// <summary>A Redis hash per project: field = VM name, value = the row as JSON (Redis drops the hash with its last field).</summary>
public sealed class RedisProjectCharges(IConnectionMultiplexer redis, string keyPrefix) : IProjectCharges
{
    public async Task<IReadOnlyDictionary<string, ChargeRow>> LoadAsync(string project)
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(Key(project));
        return entries.ToDictionary(
            entry => entry.Name.ToString(),
            entry => StoredFormat.Read<ChargeRow>(entry.Value.ToString(), $"charges of project '{project}', vm '{entry.Name}'"),
            StringComparer.Ordinal);
    }

    public Task SaveAsync(string project, string vm, ChargeRow charge) =>
        redis.GetDatabase().HashSetAsync(Key(project), vm, StoredFormat.Write(charge));

    public Task RemoveAsync(string project, string vm) => redis.GetDatabase().HashDeleteAsync(Key(project), vm);

    private RedisKey Key(string project) => $"{keyPrefix}projects:{project}:charges";
}

/// <summary>Process memory only: development mode and tests (rows are kept as stored, in their JSON).</summary>
public sealed class InMemoryProjectCharges : IProjectCharges
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _projects = new(StringComparer.Ordinal);

    public Task<IReadOnlyDictionary<string, ChargeRow>> LoadAsync(string project) =>
        Task.FromResult<IReadOnlyDictionary<string, ChargeRow>>(Rows(project).ToDictionary(
            row => row.Key,
            row => StoredFormat.Read<ChargeRow>(row.Value, $"charges of project '{project}'"),
            StringComparer.Ordinal));

    public Task SaveAsync(string project, string vm, ChargeRow charge)
    {
        ArgumentNullException.ThrowIfNull(charge);
        Rows(project)[vm] = StoredFormat.Write(charge);
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string project, string vm)
    {
        Rows(project).TryRemove(vm, out _);
        return Task.CompletedTask;
    }

    private ConcurrentDictionary<string, string> Rows(string project) =>
        _projects.GetOrAdd(project, _ => new(StringComparer.Ordinal));
}
