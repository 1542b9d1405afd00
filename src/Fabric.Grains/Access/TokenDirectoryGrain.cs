using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Access;

/// <summary>
/// The fabric's API tokens (<see cref="ITokenDirectoryGrain"/>): a persisted map by id, bounded by
/// <see cref="ITokenDirectoryGrain.MaxTokens"/>, holding each token's SHA-256 and never its secret. Requests run one at
/// a time, except <see cref="ITokenDirectoryGrain.Verify"/>, which changes nothing and interleaves with other
/// verifications. It calls only project grains (does a token's project exist), which never call back.
/// </summary>
internal sealed partial class TokenDirectoryGrain(
    [PersistentState("tokens", FabricPersistence.Name)] IPersistentState<TokenDirectoryRecord> state,
    TimeProvider time,
    ILogger<TokenDirectoryGrain> logger) : Grain, ITokenDirectoryGrain
{
    /// <summary>The user the bootstrap admin token is issued to.</summary>
    public const string BootstrapUser = "admin";

    private ImmutableDictionary<string, TokenRow> Tokens => state.State.Tokens;

    async Task<IssuedToken> ITokenDirectoryGrain.Create(TokenRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Names.Require("user", request.User);
        Names.Require("project", request.Project);
        if (!Enum.IsDefined(request.Role))
        {
            throw FabricException.InvalidSpec("role", $"{(int)request.Role} is not admin, operator or viewer");
        }

        var now = time.GetUtcNow();
        if (request.ExpiresAt is { } expiresAt && expiresAt <= now)
        {
            throw FabricException.InvalidSpec("expiresAt", $"{expiresAt:O} is not in the future");
        }

        if (request.Role != Role.Admin)
        {
            // Not-found when it does not exist; an admin token is for every project, so its project is not checked.
            await GrainFactory.GetGrain<IProjectGrain>(request.Project).Get();
        }

        RequireRoom();
        var id = TokenSecrets.NewId();
        while (Tokens.ContainsKey(id))
        {
            id = TokenSecrets.NewId();
        }

        var secret = TokenSecrets.NewSecret();
        var row = new TokenRow
        {
            Id = id,
            User = request.User,
            Project = request.Project,
            Role = request.Role,
            CreatedAt = now,
            ExpiresAt = request.ExpiresAt,
            SecretSha256 = ApiTokens.Sha256Hex(secret),
        };
        await WriteAsync(Tokens.Add(id, row));
        LogCreated(id, row.User, row.Role, row.Project);
        return new IssuedToken { Info = row.ToInfo(), Token = ApiTokens.Format(id, secret) };
    }

    Task<ImmutableArray<TokenInfo>> ITokenDirectoryGrain.List() =>
        Task.FromResult<ImmutableArray<TokenInfo>>([.. Tokens.Values.OrderBy(t => t.CreatedAt).ThenBy(t => t.Id, StringComparer.Ordinal).Select(t => t.ToInfo())]);

    async Task<TokenInfo> ITokenDirectoryGrain.Revoke(string id)
    {
        if (!Tokens.TryGetValue(id ?? "", out var row))
        {
            throw FabricException.NotFound("token", Names.Printable(id ?? ""));
        }

        if (row.RevokedAt is null)
        {
            row = row with { RevokedAt = time.GetUtcNow() };
            await WriteAsync(Tokens.SetItem(row.Id, row));
            LogRevoked(row.Id, row.User);
        }

        return row.ToInfo();
    }

    Task<TokenInfo?> ITokenDirectoryGrain.Verify(string id, string secretSha256)
    {
        if (id is null || secretSha256 is null || !Tokens.TryGetValue(id, out var row))
        {
            return Task.FromResult<TokenInfo?>(null);
        }

        // Constant time: how much of a guessed hash matches must not show in how long the answer takes.
        var matches = CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(secretSha256), Encoding.ASCII.GetBytes(row.SecretSha256));
        var info = row.ToInfo();
        return Task.FromResult(matches && info.IsValidAt(time.GetUtcNow()) ? info : null);
    }

    async Task ITokenDirectoryGrain.EnsureBootstrap(string id, string secretSha256)
    {
        if (!TokenSecrets.IsId(id))
        {
            throw FabricException.InvalidSpec("id", $"'{Names.Printable(id ?? "")}' is not {TokenSecrets.IdLength} lowercase hex digits");
        }

        if (!TokenSecrets.IsSha256Hex(secretSha256))
        {
            throw FabricException.InvalidSpec("secretSha256", $"is not {TokenSecrets.Sha256HexLength} lowercase hex digits");
        }

        // A token with that id stays as it is: a revoked bootstrap token is not revived by the next start.
        if (Tokens.ContainsKey(id))
        {
            return;
        }

        RequireRoom();
        var row = new TokenRow
        {
            Id = id,
            User = BootstrapUser,
            Project = ProjectInfo.Default,
            Role = Role.Admin,
            CreatedAt = time.GetUtcNow(),
            SecretSha256 = secretSha256,
        };
        await WriteAsync(Tokens.Add(id, row));
        LogCreated(id, row.User, row.Role, row.Project);
    }

    private void RequireRoom()
    {
        if (Tokens.Count >= ITokenDirectoryGrain.MaxTokens)
        {
            throw FabricException.InsufficientCapacity($"the fabric holds {ITokenDirectoryGrain.MaxTokens} tokens (revoked and expired ones included), its limit");
        }
    }

    private async Task WriteAsync(ImmutableDictionary<string, TokenRow> tokens)
    {
        if (await state.TryWriteAsync(new TokenDirectoryRecord { Tokens = tokens }) is { } failure)
        {
            await state.ReadStateAsync();
            throw FabricException.Unavailable($"the token directory could not be written ({failure.Message}); nothing was changed");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Token {Id} created for user {User}: {Role} of project {Project}")]
    private partial void LogCreated(string id, string user, Role role, string project);

    [LoggerMessage(Level = LogLevel.Information, Message = "Token {Id} of user {User} revoked")]
    private partial void LogRevoked(string id, string user);
}

/// <summary>The token directory as stored (version 1).</summary>
[GenerateSerializer, Alias("fabric.TokenDirectoryRecord")]
public sealed class TokenDirectoryRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    /// <summary>Tokens by id.</summary>
    [Id(1), JsonPropertyName("tokens")]
    public ImmutableDictionary<string, TokenRow> Tokens { get; set; } = ImmutableDictionary<string, TokenRow>.Empty;
}

/// <summary>One token as stored: who holds it, what it may do, and the SHA-256 of its secret (never the secret).</summary>
[GenerateSerializer, Immutable, Alias("fabric.TokenRow")]
public sealed record TokenRow
{
    [Id(0), JsonPropertyName("id")]
    public required string Id { get; init; }

    [Id(1), JsonPropertyName("user")]
    public required string User { get; init; }

    [Id(2), JsonPropertyName("project")]
    public required string Project { get; init; }

    [Id(3), JsonPropertyName("role")]
    public required Role Role { get; init; }

    [Id(4), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    [Id(5), JsonPropertyName("expiresAt")]
    public DateTimeOffset? ExpiresAt { get; init; }

    [Id(6), JsonPropertyName("revokedAt")]
    public DateTimeOffset? RevokedAt { get; init; }

    [Id(7), JsonPropertyName("secretSha256")]
    public required string SecretSha256 { get; init; }

    public TokenInfo ToInfo() => new()
    {
        Id = Id,
        User = User,
        Project = Project,
        Role = Role,
        CreatedAt = CreatedAt,
        ExpiresAt = ExpiresAt,
        RevokedAt = RevokedAt,
    };
}
