using System.Globalization;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>One audit row as stored (version 1); its id is where it is stored, not in it.</summary>
public sealed record AuditRow : IStoredRow
{
    public static int CurrentVersion => 1;

    [JsonPropertyName("v")]
    public int Version { get; init; } = CurrentVersion;

    [JsonPropertyName("at")]
    public required DateTimeOffset At { get; init; }

    [JsonPropertyName("user")]
    public required string User { get; init; }

    [JsonPropertyName("tokenId")]
    public string? TokenId { get; init; }

    [JsonPropertyName("project")]
    public string? Project { get; init; }

    [JsonPropertyName("action")]
    public required string Action { get; init; }

    [JsonPropertyName("target")]
    public required string Target { get; init; }

    [JsonPropertyName("result")]
    public required string Result { get; init; }

    [JsonPropertyName("source")]
    public string? Source { get; init; }

    public static AuditRow From(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return new AuditRow
        {
            At = entry.At,
            User = entry.User,
            TokenId = entry.TokenId,
            Project = entry.Project,
            Action = entry.Action,
            Target = entry.Target,
            Result = entry.Result,
            Source = entry.Source,
        };
    }

    public AuditEntry ToEntry(string id) => new()
    {
        Id = id,
        At = At,
        User = User,
        TokenId = TokenId,
        Project = Project,
        Action = Action,
        Target = Target,
        Result = Result,
        Source = Source,
    };
}

/// <summary>
/// The audit trail (<see cref="IAuditLog"/>): one row per mutating request or console session, appended by the API of the
/// silo that served it. Not a grain: appends from every silo go straight to Redis, never through one activation's
/// queue. A Redis stream, <c>&lt;prefix&gt;audit</c>: XADD with an approximate cap of <see cref="MaxEntries"/> rows (the oldest
/// go first), the stream id (<c>&lt;milliseconds&gt;-&lt;sequence&gt;</c> of the append) as the row id; a query reads
/// it with XRANGE from the time asked for, page by page, and returns the matching rows oldest first, up to its limit
/// (<c>invalid-spec</c> for a bad query).
/// </summary>
public sealed class RedisAuditLog(IConnectionMultiplexer redis, string keyPrefix) : IAuditLog
{
    public const long MaxEntries = 1_000_000;
    private const int PageSize = 1000;
    private const string Field = "row";

    private RedisKey Key => $"{keyPrefix}audit";

    public async Task<AuditEntry> AppendAsync(AuditEntry entry)
    {
        var id = await redis.GetDatabase().StreamAddAsync(Key, Field, StoredFormat.Write(AuditRow.From(entry)), maxLength: MaxEntries, useApproximateMaxLength: true);
        return entry with { Id = id.ToString() };
    }

    public async Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        query = query.Validate();
        var database = redis.GetDatabase();
        var result = new List<AuditEntry>();
        RedisValue from = query.Since is { } since ? AuditIds.FirstAt(since) : "-";
        while (true)
        {
            var page = await database.StreamRangeAsync(Key, from, "+", PageSize);
            foreach (var item in page)
            {
                var entry = StoredFormat.Read<AuditRow>(item[Field].ToString(), $"audit row {item.Id}").ToEntry(item.Id.ToString());
                if (query.Matches(entry))
                {
                    result.Add(entry);
                    if (result.Count == query.Limit)
                    {
                        return result;
                    }
                }
            }

            if (page.Length < PageSize)
            {
                return result;
            }

            from = $"({page[^1].Id}";
        }
    }
}

/// <summary>
/// Process memory only: development mode and tests. Keeps the last <see cref="MaxEntries"/> rows, as stored, with ids
/// made as Redis makes them (the append's millisecond, then a sequence within it).
/// </summary>
public sealed class InMemoryAuditLog(TimeProvider time) : IAuditLog
{
    public const int MaxEntries = 100_000;

    private readonly Lock _lock = new();
    private readonly Queue<(long Millisecond, string Id, string Json)> _rows = new();
    private long _lastMillisecond = -1;
    private long _sequence;

    public Task<AuditEntry> AppendAsync(AuditEntry entry)
    {
        var json = StoredFormat.Write(AuditRow.From(entry));
        string id;
        lock (_lock)
        {
            // Ids only rise, as in a stream, even if the clock steps back.
            var millisecond = Math.Max(time.GetUtcNow().ToUnixTimeMilliseconds(), _lastMillisecond);
            _sequence = millisecond == _lastMillisecond ? _sequence + 1 : 0;
            _lastMillisecond = millisecond;
            id = string.Create(CultureInfo.InvariantCulture, $"{millisecond}-{_sequence}");
            _rows.Enqueue((millisecond, id, json));
            while (_rows.Count > MaxEntries)
            {
                _rows.Dequeue();
            }
        }

        return Task.FromResult(entry with { Id = id });
    }

    public Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        query = query.Validate();
        var since = query.Since is { } at ? AuditIds.Millisecond(at) : 0;
        List<(string Id, string Json)> rows;
        lock (_lock)
        {
            rows = [.. _rows.Where(r => r.Millisecond >= since).Select(r => (r.Id, r.Json))];
        }

        return Task.FromResult<IReadOnlyList<AuditEntry>>([.. rows
            .Select(r => StoredFormat.Read<AuditRow>(r.Json, $"audit row {r.Id}").ToEntry(r.Id))
            .Where(query.Matches)
            .Take(query.Limit)]);
    }
}

/// <summary>Audit row ids are stream ids: the millisecond of the append, then a sequence.</summary>
internal static class AuditIds
{
    public static long Millisecond(DateTimeOffset at) => Math.Max(0, at.ToUnixTimeMilliseconds());

    /// <summary>The first id a row appended at <paramref name="at"/> can have.</summary>
    public static string FirstAt(DateTimeOffset at) => string.Create(CultureInfo.InvariantCulture, $"{Millisecond(at)}-0");
}
