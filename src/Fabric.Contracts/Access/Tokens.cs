using System.Buffers.Text;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
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

/// <summary>
/// The API token format, shared by the fabric, its API and the <c>./fabric</c> script: <c>fabric_&lt;id&gt;_&lt;secret&gt;</c>.
/// The id is <see cref="IdLength"/> lowercase hex digits (it names the token in listings and the audit trail); the
/// secret is 32 random bytes in base64url without padding (<see cref="SecretLength"/> characters, which may include
/// <c>_</c> and <c>-</c>). The fabric stores <see cref="Sha256Hex"/> of the secret's text and nothing else, so a shell
/// reproduces it with <c>printf %s "$secret" | sha256sum</c>.
/// </summary>
public static class ApiTokens
{
    public const string Prefix = "fabric_";
    public const int IdLength = 12;
    public const int SecretLength = 43;
    public const int Sha256HexLength = 64;
    private const int SecretBytes = 32;

    public static string Format(string id, string secret)
    {
        if (!IsId(id))
        {
            throw new ArgumentException($"a token id is {IdLength} lowercase hex digits", nameof(id));
        }

        return IsSecret(secret)
            ? $"{Prefix}{id}_{secret}"
            : throw new ArgumentException($"a token secret is {SecretLength} base64url characters", nameof(secret));
    }

    /// <summary>Splits a token into its id and secret; false (both empty) for anything not in the format.</summary>
    public static bool TryParse(string? token, out string id, out string secret)
    {
        id = "";
        secret = "";
        if (token is null
            || token.Length != Prefix.Length + IdLength + 1 + SecretLength
            || !token.StartsWith(Prefix, StringComparison.Ordinal)
            || token[Prefix.Length + IdLength] != '_')
        {
            return false;
        }

        var idPart = token.Substring(Prefix.Length, IdLength);
        var secretPart = token[(Prefix.Length + IdLength + 1)..];
        if (!IsId(idPart) || !IsSecret(secretPart))
        {
            return false;
        }

        (id, secret) = (idPart, secretPart);
        return true;
    }

    /// <summary>The SHA-256 of the secret's UTF-8 text, as lowercase hex: what the fabric keeps and checks.</summary>
    public static string Sha256Hex(string secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
    }

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));

    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));

    public static bool IsId(string? value) => value is { Length: IdLength } && value.All(IsLowerHex);

    public static bool IsSha256Hex(string? value) => value is { Length: Sha256HexLength } && value.All(IsLowerHex);

    private static bool IsSecret(string? value) =>
        value is { Length: SecretLength } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static bool IsLowerHex(char c) => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f';
}
