using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>The audit trail is a silo service, not a grain: the API layer appends through its silo and reads rows back by project, user and time.</summary>
public sealed class AuditTrailTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    [Fact]
    public async Task Rows_appended_in_a_silo_are_read_back_by_project_user_and_time()
    {
        var log = _fabric.AuditLog;
        var at = DateTimeOffset.UtcNow;
        var first = await log.AppendAsync(new AuditEntry { At = at, User = "alice", Project = "web", Action = "vm.create", Target = "vm/web-1", Result = "ok" });
        var second = await log.AppendAsync(new AuditEntry { At = at, User = "bob", Project = "db", Action = "vm.delete", Target = "vm/db-1", Result = "forbidden" });

        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal([first], await log.QueryAsync(new AuditQuery { Project = "web" }));
        Assert.Equal([second], await log.QueryAsync(new AuditQuery { User = "bob", Since = at.AddSeconds(-1) }));
        Assert.Empty(await log.QueryAsync(new AuditQuery { Since = DateTimeOffset.UtcNow.AddMinutes(1) }));
    }
}
