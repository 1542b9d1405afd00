using System.Runtime.Versioning;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.UnitTests.Contracts;

namespace Fabric.UnitTests.Api;

/// <summary>Where the API and its token come from: FABRIC_API and FABRIC_TOKEN(_FILE), else the file fabricctl login saved.</summary>
[SupportedOSPlatform("linux")] // File modes.
public sealed class FabricApiConnectionTests
{
    private const string Token = "fabric_0123abcd_s3cret";

    [Fact]
    public void TheEnvironment_GivesTheUrlAndToken()
    {
        var connection = FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "http://10.0.0.1:8081"), ("FABRIC_TOKEN", Token)));

        Assert.Equal(new Uri("http://10.0.0.1:8081/"), connection.BaseUrl);
        Assert.Equal(Token, connection.Token);
        Assert.DoesNotContain("s3cret", connection.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ATokenFile_IsReadAndTrimmed()
    {
        using var directory = new TempDirectory();
        var file = directory.WriteFile("admin.token", $"  {Token}\n");

        var connection = FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "https://fabric.example/api"), ("FABRIC_TOKEN_FILE", file)));

        Assert.Equal(Token, connection.Token);
        Assert.Equal(new Uri("https://fabric.example/api/"), connection.BaseUrl);
    }

    [Fact]
    public void FabricToken_WinsOverFabricTokenFile()
    {
        var connection = FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "http://h:1"), ("FABRIC_TOKEN", Token), ("FABRIC_TOKEN_FILE", "/nonexistent")));

        Assert.Equal(Token, connection.Token);
    }

    [Fact]
    public void Nothing_IsUnavailableSayingWhatToSet()
    {
        var error = Assert.Throws<FabricException>(() => FabricApiConnection.FromEnvironment(Variables()));

        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.Equal("no API configured: set FABRIC_API and FABRIC_TOKEN, or run fabricctl login", error.Message);
    }

    [Theory]
    [InlineData("fabric")]
    [InlineData("ftp://fabric/")]
    [InlineData("http://user:pw@fabric/")]
    [InlineData("http://fabric/?x=1")]
    [InlineData("/v1")]
    public void ABadUrl_IsInvalidSpecNamingFabricApi(string url)
    {
        InvalidSpec.Expect("FABRIC_API", () => FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", url), ("FABRIC_TOKEN", Token))));
    }

    [Theory]
    [InlineData("fabric_a_b\nX-Injected: 1")]
    [InlineData("two words")]
    [InlineData("fabric_ä_b")]
    public void ABadToken_IsInvalidSpecNamingItsSource(string token)
    {
        InvalidSpec.Expect("FABRIC_TOKEN", () => FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "http://h:1"), ("FABRIC_TOKEN", token), ("FABRIC_TOKEN_FILE", "/nonexistent"))));
    }

    [Fact]
    public void AnApiWithoutAToken_IsInvalidSpec_AndNeverTakesTheConfigsToken()
    {
        using var home = new TempDirectory();
        FabricApiConfigFile.Write(FabricApiConfigFile.PathFor(Variables(("HOME", home.Path)))!, new Uri("http://saved:1/"), Token, null);

        InvalidSpec.Expect("FABRIC_TOKEN", () => FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "http://elsewhere:1"), ("HOME", home.Path))));
    }

    [Fact]
    public void AMissingTokenFile_IsInvalidSpecNamingIt()
    {
        var error = InvalidSpec.Expect("FABRIC_TOKEN_FILE", () => FabricApiConnection.FromEnvironment(Variables(("FABRIC_API", "http://h:1"), ("FABRIC_TOKEN_FILE", "/nonexistent/admin.token"))));

        Assert.Contains("/nonexistent/admin.token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheConfigFile_IsUnderXdgConfigHome_ElseHomeDotConfig()
    {
        Assert.Equal("/x/fabric/config.json", FabricApiConfigFile.PathFor(Variables(("XDG_CONFIG_HOME", "/x"), ("HOME", "/home/a"))));
        Assert.Equal("/home/a/.config/fabric/config.json", FabricApiConfigFile.PathFor(Variables(("XDG_CONFIG_HOME", "relative"), ("HOME", "/home/a"))));
        Assert.Null(FabricApiConfigFile.PathFor(Variables()));
    }

    [Fact]
    public void TheConfigFile_SavesATokenFilesPath_OwnerOnly_AndIsReadBack()
    {
        using var home = new TempDirectory();
        var tokenFile = home.WriteFile("admin.token", Token + "\n");
        var variables = Variables(("HOME", home.Path));
        var path = FabricApiConfigFile.PathFor(variables)!;

        FabricApiConfigFile.Write(path, new Uri("http://127.0.0.1:8081/"), null, tokenFile);
        var connection = FabricApiConnection.FromEnvironment(variables);

        Assert.Equal(new Uri("http://127.0.0.1:8081/"), connection.BaseUrl);
        Assert.Equal(Token, connection.Token);
        Assert.DoesNotContain(Token, File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public void TheConfigFile_GivesItsApi_WithTheEnvironmentsToken()
    {
        using var home = new TempDirectory();
        var variables = Variables(("HOME", home.Path), ("FABRIC_TOKEN", "fabric_other_token"));
        FabricApiConfigFile.Write(FabricApiConfigFile.PathFor(variables)!, new Uri("http://saved:1/"), Token, null);

        Assert.Equal("fabric_other_token", FabricApiConnection.FromEnvironment(variables).Token);
    }

    [Fact]
    public void AConfigFileHoldingATokenThatOthersMayRead_IsRefused()
    {
        using var home = new TempDirectory();
        var variables = Variables(("HOME", home.Path));
        var path = FabricApiConfigFile.PathFor(variables)!;
        FabricApiConfigFile.Write(path, new Uri("http://saved:1/"), Token, null);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var error = InvalidSpec.Expect("config", () => FabricApiConnection.FromEnvironment(variables));

        Assert.Contains("chmod 600", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1]")]
    [InlineData("{\"api\": 5, \"token\": \"x\"}")]
    [InlineData("{\"token\": \"fabric_a_b\"}")]
    [InlineData("{\"api\": \"http://h:1\"}")]
    public void ABrokenConfigFile_IsInvalidSpecNamingIt(string text)
    {
        using var home = new TempDirectory();
        var path = home.WriteFile(".config/fabric/config.json", text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var error = InvalidSpec.Expect("config", () => FabricApiConnection.FromEnvironment(Variables(("HOME", home.Path))));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    private static Func<string, string?> Variables(params (string Name, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        return name => map.GetValueOrDefault(name);
    }
}
