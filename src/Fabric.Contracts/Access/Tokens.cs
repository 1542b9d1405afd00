using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>What an admin asks for when creating an API token.</summary>
[GenerateSerializer, Immutable, Alias("fabric.TokenRequest")]
public sealed record TokenRequest
{
    /// <summary>Who holds the token: the name the audit trail records.</summary>
    [Id(0)]
    public required string User { get; init; }

    /// <summary>The project the role applies to (ignored by <see cref="Role.Admin"/>, which has every project).</summary>
    [Id(1)]
    public string Project { get; init; } = ProjectInfo.Default;

    [Id(2)]
    public required Role Role { get; init; }

    /// <summary>When the token stops working; null for never.</summary>
    [Id(3)]
    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>A token as listed: never its secret, which is stored only as a hash.</summary>
[GenerateSerializer, Immutable, Alias("fabric.TokenInfo")]
public sealed record TokenInfo
{
    [Id(0)]
    public required string Id { get; init; }

    [Id(1)]
    public required string User { get; init; }

    [Id(2)]
    public required string Project { get; init; }

    [Id(3)]
    public required Role Role { get; init; }

    [Id(4)]
    public DateTimeOffset CreatedAt { get; init; }

    [Id(5)]
    public DateTimeOffset? ExpiresAt { get; init; }

    [Id(6)]
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Whether the token is accepted at <paramref name="now"/>: not revoked and not expired.</summary>
    public bool IsValidAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is null || now < ExpiresAt);
}

/// <summary>A token just created: <see cref="Token"/> is the secret, shown this once and never again.</summary>
[GenerateSerializer, Immutable, Alias("fabric.IssuedToken")]
public sealed record IssuedToken
{
    [Id(0)]
    public required TokenInfo Info { get; init; }

    [Id(1)]
    public required string Token { get; init; }
}

/// <summary>
/// The fabric's API tokens (a single grain, key 0). A token reads <c>fabric_&lt;id&gt;_&lt;secret&gt;</c>; the grain keeps
/// only the SHA-256 of the secret, so a callers proves a token by its id and hash, and no secret crosses the cluster.
/// </summary>
[Alias("fabric.ITokenDirectoryGrain")]
public interface ITokenDirectoryGrain : IGrainWithIntegerKey
{
    public const long Key = 0;

    /// <summary>The most tokens the fabric keeps, revoked and expired ones included.</summary>
    public const int MaxTokens = 10_000;

    /// <summary>Creates a token; the result carries its secret, which nothing keeps.</summary>
    [Alias("Create")]
    Task<IssuedToken> Create(TokenRequest request);

    /// <summary>Every token, revoked and expired ones included, by creation time.</summary>
    [Alias("List")]
    Task<ImmutableArray<TokenInfo>> List();

    /// <summary>Revokes the token (idempotent); <c>not-found</c> for an unknown id.</summary>
    [Alias("Revoke")]
    Task<TokenInfo> Revoke(string id);

    /// <summary>The token whose id and secret hash these are, while it is valid; null otherwise (unknown, wrong secret, revoked or expired).</summary>
    /// <remarks>Read-only: verifications interleave with one another.</remarks>
    [ReadOnly, Alias("Verify"), HostInternal]
    Task<TokenInfo?> Verify(string id, string secretSha256);

    /// <summary>
    /// Registers the bootstrap admin token (id <paramref name="id"/>, secret hash <paramref name="secretSha256"/>) that
    /// <c>./fabric up</c> generated, unless a token with that id exists already (so a revoked one stays revoked).
    /// </summary>
    [Alias("EnsureBootstrap"), HostInternal]
    Task EnsureBootstrap(string id, string secretSha256);
}

