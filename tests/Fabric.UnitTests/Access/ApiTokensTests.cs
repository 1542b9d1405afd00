using System.Buffers.Text;
using Fabric.Contracts;

namespace Fabric.UnitTests.Access;

/// <summary>The token format the fabric, its API and the <c>./fabric</c> script share: <c>fabric_&lt;id&gt;_&lt;secret&gt;</c>.</summary>
public sealed class ApiTokensTests
{
    // A secret with the characters base64url adds to letters and digits, an underscore among them.
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
    public void NewIdAndNewSecret_AreInTheFormat_AndDifferEveryTime()
    {
        var ids = Enumerable.Range(0, 100).Select(_ => ApiTokens.NewId()).ToList();
        var secrets = Enumerable.Range(0, 100).Select(_ => ApiTokens.NewSecret()).ToList();

        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{12}$", id));
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
    [InlineData("Fabric_0123456789ab_" + Secret)] // the prefix is lowercase
    [InlineData("fabrik_0123456789ab_" + Secret)]
    [InlineData("fabric_0123456789AB_" + Secret)] // the id is lowercase hex
    [InlineData("fabric_0123456789ag_" + Secret)]
    [InlineData("fabric_0123456789a_b" + Secret)] // an 11-digit id
    [InlineData("fabric_0123456789ab-" + Secret)] // the separator is '_'
    [InlineData("fabric_0123456789ab_" + Secret + "A")] // a secret one too long
    [InlineData("fabric_0123456789ab_Ab_9-zZ0_abcdefghijklmnopqrstuvwxyz0123456")] // one too short
    [InlineData("fabric_0123456789ab_Ab_9-zZ0_abcdefghijklmnopqrstuvwxyz0123456=")] // padding
    [InlineData("fabric_0123456789ab_Ab_9+zZ0/abcdefghijklmnopqrstuvwxyz01234567")] // base64, not base64url
    [InlineData(" fabric_0123456789ab_" + Secret)]
    [InlineData("fabric_0123456789ab_" + Secret + "\n")]
    public void TryParse_RefusesAnythingNotInTheFormat(string? token)
    {
        Assert.False(ApiTokens.TryParse(token, out var id, out var secret));
        Assert.Equal(("", ""), (id, secret));
    }

    [Fact]
    public void Sha256Hex_IsLowercaseHexOfTheSecretsText_AsSha256sumPrintsIt()
    {
        // printf %s abc | sha256sum
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ApiTokens.Sha256Hex("abc"));
        Assert.True(ApiTokens.IsSha256Hex(ApiTokens.Sha256Hex(Secret)));
        Assert.False(ApiTokens.IsSha256Hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    }

    [Theory]
    [InlineData("0123456789AB", Secret)]
    [InlineData("0123456789a", Secret)]
    [InlineData(Id, "short")]
    [InlineData(Id, "Ab_9+zZ0/abcdefghijklmnopqrstuvwxyz01234567")]
    public void Format_RefusesPartsThatWouldNotParse(string id, string secret)
    {
        Assert.Throws<ArgumentException>(() => ApiTokens.Format(id, secret));
    }
}
