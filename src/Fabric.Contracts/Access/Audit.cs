namespace Fabric.Contracts;

/// <summary>
/// One row of the audit trail: a mutating request or a console session, who made it and how it ended. Never holds a
/// secret: tokens appear by id only.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.AuditEntry")]
public sealed record AuditEntry
{
    /// <summary>The row's id in the trail, ordered by time.</summary>
    [Id(0)]
    public string Id { get; init; } = "";

    [Id(1)]
    public required DateTimeOffset At { get; init; }

    /// <summary>The caller's user name (from its token), or <c>anonymous</c> for a refused unauthenticated request.</summary>
    [Id(2)]
    public required string User { get; init; }

    [Id(3)]
    public string? TokenId { get; init; }

    /// <summary>The project the target belongs to, when it belongs to one.</summary>
    [Id(4)]
    public string? Project { get; init; }

    /// <summary>What was asked: <c>vm.create</c>, <c>vm.start</c>, <c>vm.console</c>, <c>token.revoke</c>, …</summary>
    [Id(5)]
    public required string Action { get; init; }

    /// <summary>The object acted on: <c>vm/web-1</c>, <c>host/host-a</c>, <c>token/3f9c…</c>.</summary>
    [Id(6)]
    public required string Target { get; init; }

    /// <summary><c>ok</c>, or the error code it failed with (<c>forbidden</c>, <c>conflict</c>, …).</summary>
    [Id(7)]
    public required string Result { get; init; }

    /// <summary>The client's address.</summary>
    [Id(8)]
    public string? Source { get; init; }
}

/// <summary>A query of the audit trail: rows at or after <see cref="Since"/>, optionally of one project or user, newest last.</summary>
[GenerateSerializer, Immutable, Alias("fabric.AuditQuery")]
public sealed record AuditQuery
{
    public const int MaxLimit = 10_000;

    [Id(0)]
    public DateTimeOffset? Since { get; init; }

    [Id(1)]
    public string? Project { get; init; }

    [Id(2)]
    public string? User { get; init; }

    [Id(3)]
    public int Limit { get; init; } = 1000;

    /// <summary>Returns the query or throws <c>invalid-spec</c> naming a limit out of range or a malformed name.</summary>
    public AuditQuery Validate()
    {
        if (Limit is < 1 or > MaxLimit)
        {
            throw FabricException.InvalidSpec("limit", $"{Limit} is out of range 1–{MaxLimit}");
        }

        if (Project is not null)
        {
            Names.Require("project", Project);
        }

        if (User is not null)
        {
            Names.Require("user", User);
        }

        return this;
    }

    /// <summary>Whether <paramref name="entry"/> is of the project and user asked for (time aside).</summary>
    public bool Matches(AuditEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return (Project is null || entry.Project == Project) && (User is null || entry.User == User);
    }
}
