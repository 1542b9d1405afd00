using Fabric.Contracts;
using Fabric.Grains.Access;

namespace Fabric.IntegrationTests;

/// <summary>
/// API tokens: created with a secret shown once, proved by id and the secret's hash (through the silo, as the API
/// does), refused once wrong, revoked or expired; the bootstrap admin token is registered once and stays revoked.
/// </summary>
public sealed class TokenTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    /// <summary>As an admin reaches it (creating, listing, revoking are open to clients).</summary>
    private ITokenDirectoryGrain Tokens => _fabric.OrleansClient.GetGrain<ITokenDirectoryGrain>(ITokenDirectoryGrain.Key);

    /// <summary>As the API reaches it from inside the silo (verifying is internal).</summary>
    private ITokenDirectoryGrain Verifier => _fabric.InternalGrains.GetGrain<ITokenDirectoryGrain>(ITokenDirectoryGrain.Key);

    private Task<TokenInfo?> VerifyAsync(string token)
    {
        Assert.True(ApiTokens.TryParse(token, out var id, out var secret), token);
        return Verifier.Verify(id, ApiTokens.Sha256Hex(secret));
    }

    [Fact]
    public async Task A_token_verifies_with_its_secret_and_with_nothing_else()
    {
        await _fabric.OrleansClient.GetGrain<IProjectGrain>("web").Create(ProjectQuota.Unlimited);
        var issued = await Tokens.Create(new TokenRequest { User = "alice", Project = "web", Role = Role.Operator });

        Assert.True(ApiTokens.TryParse(issued.Token, out var id, out var secret));
        Assert.Equal(id, issued.Info.Id);
        Assert.Equal(("alice", "web", Role.Operator, (DateTimeOffset?)null, (DateTimeOffset?)null), (issued.Info.User, issued.Info.Project, issued.Info.Role, issued.Info.ExpiresAt, issued.Info.RevokedAt));
        Assert.Equal(issued.Info, await VerifyAsync(issued.Token));
        Assert.Equal<TokenInfo>([issued.Info], await Tokens.List());

        // Another secret, another id, a hash in capitals, garbage: refused alike.
        Assert.Null(await VerifyAsync(ApiTokens.Format(id, TokenSecrets.NewSecret())));
        Assert.Null(await VerifyAsync(ApiTokens.Format(TokenSecrets.NewId(), secret)));
        Assert.Null(await Verifier.Verify(id, ApiTokens.Sha256Hex(secret).ToUpperInvariant()));
        Assert.Null(await Verifier.Verify(id, ""));
        Assert.Null(await Verifier.Verify("../../etc", ApiTokens.Sha256Hex(secret)));
    }

    [Fact]
    public async Task Requests_are_validated_and_a_viewer_needs_a_project_that_exists()
    {
        var unknown = await Assert.ThrowsAsync<FabricException>(() => Tokens.Create(new TokenRequest { User = "bob", Project = "nope", Role = Role.Viewer }));
        Assert.Equal((ErrorCodes.NotFound, "project 'nope' does not exist"), (unknown.Code, unknown.Message));

        var user = await Assert.ThrowsAsync<FabricException>(() => Tokens.Create(new TokenRequest { User = "Bob Smith", Role = Role.Viewer }));
        Assert.Equal(ErrorCodes.InvalidSpec, user.Code);
        Assert.StartsWith("user: ", user.Message, StringComparison.Ordinal);

        var past = await Assert.ThrowsAsync<FabricException>(() => Tokens.Create(new TokenRequest { User = "bob", Role = Role.Viewer, ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(-1) }));
        Assert.Equal(ErrorCodes.InvalidSpec, past.Code);
        Assert.StartsWith("expiresAt: ", past.Message, StringComparison.Ordinal);

        var role = await Assert.ThrowsAsync<FabricException>(() => Tokens.Create(new TokenRequest { User = "bob", Role = (Role)7 }));
        Assert.Equal(ErrorCodes.InvalidSpec, role.Code);

        // An admin has every project, so its project is not looked up; the default project always exists.
        var admin = await Tokens.Create(new TokenRequest { User = "root", Project = "anything", Role = Role.Admin });
        var viewer = await Tokens.Create(new TokenRequest { User = "bob", Role = Role.Viewer });
        Assert.Equal(ProjectInfo.Default, viewer.Info.Project);
        Assert.Equal<string>([admin.Info.Id, viewer.Info.Id], (await Tokens.List()).Select(t => t.Id));
    }

    [Fact]
    public async Task A_revoked_token_is_refused_and_revoking_again_changes_nothing()
    {
        var issued = await Tokens.Create(new TokenRequest { User = "carol", Role = Role.Viewer });

        var revoked = await Tokens.Revoke(issued.Info.Id);
        Assert.NotNull(revoked.RevokedAt);
        Assert.Null(await VerifyAsync(issued.Token));
        Assert.Equal(revoked, await Tokens.Revoke(issued.Info.Id));
        Assert.Equal<TokenInfo>([revoked], await Tokens.List());

        var unknown = await Assert.ThrowsAsync<FabricException>(() => Tokens.Revoke("0123456789ab"));
        Assert.Equal(ErrorCodes.NotFound, unknown.Code);
    }

    [Fact]
    public async Task A_token_is_refused_once_it_expires()
    {
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(3);
        var issued = await Tokens.Create(new TokenRequest { User = "dave", Role = Role.Viewer, ExpiresAt = expiresAt });
        Assert.Equal(expiresAt, issued.Info.ExpiresAt);
        Assert.NotNull(await VerifyAsync(issued.Token));

        // The silos read the same system clock as this test.
        var left = expiresAt - DateTimeOffset.UtcNow;
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left + TimeSpan.FromMilliseconds(50));
        }

        Assert.Null(await VerifyAsync(issued.Token));
        Assert.Null((await Tokens.List()).Single().RevokedAt);
    }

    [Fact]
    public async Task The_bootstrap_token_is_registered_once_and_a_revoked_one_stays_revoked()
    {
        var (id, secret) = (TokenSecrets.NewId(), TokenSecrets.NewSecret());
        var token = ApiTokens.Format(id, secret);

        await Verifier.EnsureBootstrap(id, ApiTokens.Sha256Hex(secret));
        var admin = await VerifyAsync(token);
        Assert.Equal((id, "admin", Role.Admin), (admin!.Id, admin.User, admin.Role));

        // The next start brings the same id: nothing changes, whatever hash it carries.
        await Verifier.EnsureBootstrap(id, ApiTokens.Sha256Hex(TokenSecrets.NewSecret()));
        Assert.Equal(admin, await VerifyAsync(token));

        await Tokens.Revoke(id);
        await Verifier.EnsureBootstrap(id, ApiTokens.Sha256Hex(secret));
        Assert.Null(await VerifyAsync(token));
        Assert.Single(await Tokens.List());

        var malformed = await Assert.ThrowsAsync<FabricException>(() => Verifier.EnsureBootstrap("XYZ", ApiTokens.Sha256Hex(secret)));
        Assert.Equal(ErrorCodes.InvalidSpec, malformed.Code);
    }
}
