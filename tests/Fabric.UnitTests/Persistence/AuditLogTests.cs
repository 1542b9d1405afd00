using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.UnitTests.Persistence;

/// <summary>The in-memory audit trail (development mode and tests): stream-like ids, and queries by time, project and user.</summary>
public sealed class AuditLogTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private readonly SteppedClock _clock = new(Start);
    private readonly InMemoryAuditLog _log;

    public AuditLogTests()
    {
        _log = new InMemoryAuditLog(_clock);
    }

    [Fact]
    public async Task Append_GivesIdsOfTheAppendsMillisecond_RisingWithinOne_AndKeepsTheRow()
    {
        var row = Row("alice", "web", "vm.create");
        var first = await _log.AppendAsync(row);
        var second = await _log.AppendAsync(Row("alice", "web", "vm.start"));
        _clock.Now += TimeSpan.FromMilliseconds(5);
        var third = await _log.AppendAsync(Row("bob", null, "host.cordon"));

        var ms = Start.ToUnixTimeMilliseconds();
        Assert.Equal([$"{ms}-0", $"{ms}-1", $"{ms + 5}-0"], [first.Id, second.Id, third.Id]);
        Assert.Equal(row with { Id = first.Id }, first);
        Assert.Equal([first, second, third], await _log.QueryAsync(new AuditQuery()));
    }

    [Fact]
    public async Task Append_IdsNeverGoBack_WhenTheClockDoes()
    {
        var before = await _log.AppendAsync(Row("alice", "web", "vm.create"));
        _clock.Now -= TimeSpan.FromSeconds(1);
        var after = await _log.AppendAsync(Row("alice", "web", "vm.delete"));

        Assert.Equal($"{Start.ToUnixTimeMilliseconds()}-1", after.Id);
        Assert.Equal([before.Id, after.Id], (await _log.QueryAsync(new AuditQuery())).Select(e => e.Id));
    }

    [Fact]
    public async Task Query_FiltersBySinceProjectAndUser_OldestFirst_UpToTheLimit()
    {
        foreach (var (user, project) in new[] { ("alice", "web"), ("bob", "web"), ("alice", "db"), ("alice", "web"), ("bob", (string?)null), ("alice", "web") })
        {
            await _log.AppendAsync(Row(user, project, "vm.start"));
            _clock.Now += TimeSpan.FromSeconds(1);
        }

        async Task<string[]> Query(AuditQuery query) =>
            [.. (await _log.QueryAsync(query)).Select(e => $"{(e.At - Start).TotalSeconds}:{e.User}:{e.Project}")];

        Assert.Equal(["0:alice:web", "1:bob:web", "3:alice:web", "5:alice:web"], await Query(new AuditQuery { Project = "web" }));
        Assert.Equal(["1:bob:web", "4:bob:"], await Query(new AuditQuery { User = "bob" }));
        Assert.Equal(["3:alice:web", "5:alice:web"], await Query(new AuditQuery { Project = "web", User = "alice", Since = Start.AddSeconds(2) }));
        Assert.Equal(["3:alice:web", "4:bob:", "5:alice:web"], await Query(new AuditQuery { Since = Start.AddSeconds(3) }));
        Assert.Equal(["0:alice:web", "2:alice:db"], await Query(new AuditQuery { User = "alice", Limit = 2 }));
        Assert.Empty(await Query(new AuditQuery { Since = Start.AddSeconds(6) }));
        Assert.Empty(await Query(new AuditQuery { Project = "other" }));
    }

    [Fact]
    public async Task Query_RefusesAnInvalidQuery()
    {
        var error = await Assert.ThrowsAsync<FabricException>(() => _log.QueryAsync(new AuditQuery { Limit = 0 }));
        Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
    }

    [Fact]
    public async Task TheLog_KeepsTheNewestRowsUpToItsCap()
    {
        for (var i = 0; i < InMemoryAuditLog.MaxEntries + 10; i++)
        {
            await _log.AppendAsync(Row("alice", "web", "vm.start") with { Target = $"vm/{i}" });
        }

        var oldest = await _log.QueryAsync(new AuditQuery { Limit = 1 });
        Assert.Equal("vm/10", Assert.Single(oldest).Target);
    }

    private AuditEntry Row(string user, string? project, string action) => new()
    {
        At = _clock.Now,
        User = user,
        Project = project,
        TokenId = "0123456789ab",
        Action = action,
        Target = "vm/web-1",
        Result = "ok",
        Source = "10.0.0.9",
    };

    /// <summary>A clock that stands still until a test moves it.</summary>
    private sealed class SteppedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
