using System.Buffers.Text;
using Fabric.Contracts;
using Fabric.Grains.Access;

namespace Fabric.UnitTests.Access;

/// <summary>
/// The token format the fabric, its API and the <c>./fabric</c> script share, <c>fabric_&lt;id&gt;_&lt;secret&gt;</c>,
/// and what the token directory makes in it.
/// </summary>
public sealed class ApiTokensTests
{
    // A secret with the characters base64url adds to letters and digits, underscores among them.
    private const string Secret = "Ab_9-zZ0_abcdefghijklmnopqrstuvwxyz01234567";
    private const string Id = "0123456789ab";

    [Fact]
    public void Format_ThenTryParse_GivesBackTheIdAndASecretThatContainsUnderscores()
    {
        var token = ApiTokens.Format(Id, Secret);

        Assert.Equal($"fabric_{Id}_{Secret}", token);
        Assert.True(ApiTokens.TryParse(token, out var id, out var secret));
        Assert.Equal((Id, Secret), (id, secret));
    }

    [Fact]
    public void The_directory_makes_ids_and_secrets_in_the_format_as_the_script_does_and_never_the_same_twice()
    {
        var ids = Enumerable.Range(0, 100).Select(_ => TokenSecrets.NewId()).ToList();
        var secrets = Enumerable.Range(0, 100).Select(_ => TokenSecrets.NewSecret()).ToList();

        // ./fabric: 6 random bytes as hex, 32 random bytes as base64url without padding.
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{12}$", id));
        Assert.All(ids, id => Assert.True(TokenSecrets.IsId(id)));
        Assert.All(secrets, s => Assert.Matches("^[A-Za-z0-9_-]{43}$", s));
        Assert.All(secrets, s => Assert.Equal(32, Base64Url.DecodeFromChars(s).Length));
        Assert.Equal(100, ids.Distinct().Count());
        Assert.Equal(100, secrets.Distinct().Count());
        Assert.All(ids.Zip(secrets), pair =>
        {
            Assert.True(ApiTokens.TryParse(ApiTokens.Format(pair.First, pair.Second), out var id, out var secret));
            Assert.Equal(pair, (id, secret));
        });
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("fabric_")]
    [InlineData("fabric__" + Secret)] // no id
    [InlineData("fabric_" + Id + "_")] // no secret
    [InlineData("fabric_" + Id)]
    [InlineData("Fabric_" + Id + "_" + Secret)] // the prefix is lowercase
    [InlineData("fabrik_" + Id + "_" + Secret)]
    [InlineData("fabric_0123456789AB_" + Secret)] // the id is lowercase hex
    [InlineData("fabric_0123456789ag_" + Secret)]
    [InlineData("fabric_" + Id + "-" + Secret)] // the separator is '_'
    [InlineData("fabric_" + Id + "_" + Secret + "=")] // padding
    [InlineData("fabric_" + Id + "_Ab_9+zZ0/abcdefghijklmnopqrstuvwxyz01234567")] // base64, not base64url
    [InlineData(" fabric_" + Id + "_" + Secret)]
    [InlineData("fabric_" + Id + "_" + Secret + "\n")]
    public void TryParse_RefusesAnythingNotInTheFormat(string? token)
    {
        Assert.False(ApiTokens.TryParse(token, out var id, out var secret));
        Assert.Equal(("", ""), (id, secret));
    }

    [Fact]
    public void TryParse_RefusesATokenLongerThan256Characters()
    {
        Assert.True(ApiTokens.TryParse("fabric_" + Id + "_" + new string('a', 256 - 20), out _, out _));
        Assert.False(ApiTokens.TryParse("fabric_" + Id + "_" + new string('a', 256 - 19), out _, out _));
    }

    [Fact]
    public void Sha256Hex_IsLowercaseHexOfTheSecretsText_AsSha256sumPrintsIt()
    {
        // printf %s abc | sha256sum
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ApiTokens.Sha256Hex("abc"));
        Assert.True(TokenSecrets.IsSha256Hex(ApiTokens.Sha256Hex(Secret)));
        Assert.False(TokenSecrets.IsSha256Hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
        Assert.False(TokenSecrets.IsSha256Hex("ba7816bf"));
    }
}
