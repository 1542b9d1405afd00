using System.Net;
using System.Runtime.Versioning;
using System.Text.Json;
using Fabric.Cli;
using Fabric.Contracts;
using Fabric.UnitTests.Api;

namespace Fabric.UnitTests.Cli;

/// <summary><c>login</c>, <c>project</c>, <c>token</c> and <c>audit</c>: what they accept, send and print.</summary>
[SupportedOSPlatform("linux")] // File modes.
public sealed class AccessCommandTests
{
    private static readonly TokenInfo Alice = new() { Id = "ab12", User = "alice", Project = "shop", Role = Role.Operator, CreatedAt = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero) };

    private static readonly ProjectInfo Shop = new()
    {
        Name = "shop",
        Quota = new ProjectQuota { Vms = 10, MemoryMiB = 65536 },
        Usage = new ProjectUsage { Vms = 3, VCpus = 6, MemoryMiB = 768 },
    };

    private static IReadOnlyList<string> Errors(params string[] args) =>
        [.. Program.CreateRootCommand(CliIo.Capture(TextWriter.Null, TextWriter.Null)).Parse(args).Errors.Select(e => e.Message)];

    [Fact]
    public void EveryCommand_TakesItsDocumentedOptions()
    {
        Assert.Empty(Errors("login", "--api", "http://127.0.0.1:8081", "--token-file", ".fabric/admin.token"));
        Assert.Empty(Errors("whoami"));
        Assert.Empty(Errors("project", "create", "shop", "--vms", "10", "--vcpus", "20", "--memory", "64Gi"));
        Assert.Empty(Errors("project", "list"));
        Assert.Empty(Errors("project", "get", "shop"));
        Assert.Empty(Errors("project", "quota", "shop", "--vms", "unlimited", "--memory", "32Gi"));
        Assert.Empty(Errors("project", "delete", "shop"));
        Assert.Empty(Errors("token", "create", "--user", "alice@example.com", "--project", "shop", "--role", "operator", "--expires", "7d"));
        Assert.Empty(Errors("token", "create", "--user", "root", "--role", "admin"));
        Assert.Empty(Errors("token", "list", "-o", "json"));
        Assert.Empty(Errors("token", "revoke", "ab12"));
        Assert.Empty(Errors("audit", "list", "--since", "1h", "--project", "shop", "--user", "alice", "--limit", "50"));
        Assert.Empty(Errors("audit", "list", "--since", "2026-11-30T12:00:00Z"));
    }

    [Theory]
    [InlineData(new[] { "login", "--token-file", "t" }, "Option '--api' is required")]
    [InlineData(new[] { "project", "create", "Shop" }, "project: ")]
    [InlineData(new[] { "project", "create", "shop", "--vms", "-1" }, "vms: ")]
    [InlineData(new[] { "project", "create", "shop", "--memory", "lots" }, "memory: ")]
    [InlineData(new[] { "token", "create", "--user", "alice", "--role", "root" }, "role: ")]
    [InlineData(new[] { "token", "create", "--user", "alice smith", "--role", "viewer" }, "user: ")]
    [InlineData(new[] { "token", "create", "--user", "alice", "--role", "viewer", "--expires", "soon" }, "expires: ")]
    [InlineData(new[] { "token", "create", "--user", "alice", "--role", "viewer", "--expires", "0d" }, "expires: ")]
    [InlineData(new[] { "token", "revoke", "../x" }, "id: ")]
    [InlineData(new[] { "audit", "list", "--since", "yesterday" }, "since: ")]
    [InlineData(new[] { "audit", "list", "--limit", "10001" }, "limit: ")]
    public void BadValues_AreParseErrorsNamingTheField(string[] args, string field) =>
        Assert.Contains(Errors(args), e => e.StartsWith(field, StringComparison.Ordinal));

    [Theory]
    [InlineData("30m", 30 * 60)]
    [InlineData("12h", 12 * 3600)]
    [InlineData("7d", 7 * 86400)]
    [InlineData("2w", 14 * 86400)]
    [InlineData("90s", 90)]
    public void Durations_TakeUnits(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Parsers.Duration("expires", text));

    [Fact]
    public void Since_IsATimeOrADurationAgo()
    {
        var now = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

        Assert.Equal(now.AddHours(-1), Parsers.Since("since", "1h", now));
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 8, 30, 0, TimeSpan.Zero), Parsers.Since("since", "2026-11-01T08:30:00Z", now));
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), Parsers.Since("since", "2026-11-01", now));
    }

    [Fact]
    public async Task TokenCreate_ShowsTheSecretOnce_WithAWarning()
    {
        var api = new FakeApi().OnJson(HttpMethod.Post, "/v1/tokens", new IssuedToken { Info = Alice, Token = "fabric_ab12_s3cr3t" }, HttpStatusCode.Created);

        var table = await new CliRun(api).RunAsync("token", "create", "--user", "alice", "--project", "shop", "--role", "operator", "--expires", "12h");
        var json = await new CliRun(api).RunAsync("token", "create", "--user", "alice", "--project", "shop", "--role", "operator", "-o", "json");

        Assert.Equal(0, table.Code);
        Assert.Single(table.Lines, l => l.Contains("fabric_ab12_s3cr3t", StringComparison.Ordinal));
        Assert.StartsWith("warning: this token is shown once and never again", table.Stderr, StringComparison.Ordinal);
        Assert.Equal("fabric_ab12_s3cr3t", JsonDocument.Parse(json.Stdout).RootElement.GetProperty("token").GetString());

        var sent = JsonDocument.Parse(api.Seen[0].Body!).RootElement;
        Assert.Equal("alice", sent.GetProperty("user").GetString());
        Assert.Equal("Operator", sent.GetProperty("role").GetString());
        Assert.InRange(sent.GetProperty("expiresAt").GetDateTimeOffset() - DateTimeOffset.UtcNow, TimeSpan.FromHours(11.9), TimeSpan.FromHours(12));
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(api.Seen[1].Body!).RootElement.GetProperty("expiresAt").ValueKind);
    }

    [Fact]
    public async Task TokenCreate_WithoutAUser_NamesTheHolderAfterProjectAndRole()
    {
        var api = new FakeApi().OnJson(HttpMethod.Post, "/v1/tokens", new IssuedToken { Info = Alice, Token = "fabric_ab12_s3cr3t" }, HttpStatusCode.Created);

        var result = await new CliRun(api).RunAsync("token", "create", "--project", "shop", "--role", "viewer", "-o", "json");

        Assert.Equal(0, result.Code);
        Assert.Equal("shop-viewer", JsonDocument.Parse(Assert.Single(api.Seen).Body!).RootElement.GetProperty("user").GetString());
    }

    [Fact]
    public async Task TokenList_IsATableWithoutSecrets()
    {
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/tokens", new[] { Alice, Alice with { Id = "cd34", User = "root", Role = Role.Admin, RevokedAt = Alice.CreatedAt.AddDays(1) } });

        var result = await new CliRun(api).RunAsync("token", "list");

        Assert.Equal(["ID", "USER", "PROJECT", "ROLE", "CREATED", "EXPIRES", "REVOKED"], Words(result.Lines[0]));
        Assert.Equal(["ab12", "alice", "shop", "operator", "2026-11-30", "12:00:00Z", "never", "-"], Words(result.Lines[1]));
        Assert.Equal(["cd34", "root", "*", "admin", "2026-11-30", "12:00:00Z", "never", "2026-12-01", "12:00:00Z"], Words(result.Lines[2]));
    }

    [Fact]
    public async Task ProjectList_ShowsQuotaAndUsage()
    {
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/projects", new[] { Shop });

        var result = await new CliRun(api).RunAsync("project", "list");

        Assert.Equal(["NAME", "VMS(used/quota)", "VCPU(used/quota)", "MEMORY(used/quota)", "CREATED"], Words(result.Lines[0]));
        Assert.Equal(["shop", "3/10", "6/∞", "768Mi/64Gi", "-"], Words(result.Lines[1]));
    }

    [Fact]
    public async Task ProjectCreate_SendsTheQuota()
    {
        var api = new FakeApi().OnJson(HttpMethod.Post, "/v1/projects", Shop, HttpStatusCode.Created);

        var result = await new CliRun(api).RunAsync("project", "create", "shop", "--vms", "10", "--memory", "64Gi");

        Assert.Equal(0, result.Code);
        Assert.Equal("{\"name\":\"shop\",\"quota\":{\"vms\":10,\"vcpus\":null,\"memoryMiB\":65536}}", Assert.Single(api.Seen).Body);
    }

    [Fact]
    public async Task ProjectQuota_ChangesOnlyTheLimitsGiven()
    {
        var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/projects/shop", Shop)
            .On(HttpMethod.Put, "/v1/projects/shop/quota", r => FakeApi.Json(Shop with { Quota = JsonSerializer.Deserialize<ProjectQuota>(r.Body!, ApiJson.Compact)! }));

        var result = await new CliRun(api).RunAsync("project", "quota", "shop", "--vms", "unlimited", "--vcpus", "16", "-o", "json");

        Assert.Equal(0, result.Code);
        Assert.Equal("{\"vms\":null,\"vcpus\":16,\"memoryMiB\":65536}", api.Seen[1].Body);
    }

    [Fact]
    public async Task AuditList_SendsTheQuery_AndPrintsRowsOldestFirst()
    {
        var api = new FakeApi().OnPrefix(HttpMethod.Get, "/v1/audit?since=", _ => FakeApi.Json(new[]
        {
            new AuditEntry { At = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero), User = "alice", TokenId = "ab12", Project = "shop", Action = "vm.create", Target = "vm/web-1", Result = "ok", Source = "10.0.0.7" },
        }));

        var result = await new CliRun(api).RunAsync("audit", "list", "--since", "1h", "--project", "shop", "--user", "alice", "--limit", "5");

        Assert.Equal(0, result.Code);
        Assert.Matches("^/v1/audit\\?since=[0-9T%A-F.-]+&project=shop&user=alice&limit=5$", Assert.Single(api.Seen).PathAndQuery);
        Assert.Equal(["AT", "USER", "TOKEN", "PROJECT", "ACTION", "TARGET", "RESULT", "SOURCE"], Words(result.Lines[0]));
        Assert.Equal(["2026-11-30", "12:00:00Z", "alice", "ab12", "shop", "vm.create", "vm/web-1", "ok", "10.0.0.7"], Words(result.Lines[1]));
    }

    [Fact]
    public async Task Login_ChecksTheToken_ThenSavesTheApiAndTheTokenFilesPath_OwnerOnly()
    {
        using var home = new TempDirectory();
        var tokenFile = Path.Combine(home.Path, "admin.token");
        File.WriteAllText(tokenFile, FakeApi.Token + "\n");
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/whoami", Alice);
        var run = new CliRun(api);
        run.Variables.Clear();
        run.Variables["HOME"] = home.Path;

        var result = await run.RunAsync("login", "--api", FakeApi.Url, "--token-file", tokenFile);

        Assert.Equal(0, result.Code);
        Assert.Contains("as alice (operator, project shop)", result.Stdout, StringComparison.Ordinal);
        Assert.Equal($"Bearer {FakeApi.Token}", Assert.Single(api.Seen).Authorization);
        var config = Path.Combine(home.Path, ".config", "fabric", "config.json");
        var saved = JsonDocument.Parse(File.ReadAllText(config)).RootElement;
        Assert.Equal(FakeApi.Url, saved.GetProperty("api").GetString());
        Assert.Equal(tokenFile, saved.GetProperty("tokenFile").GetString());
        Assert.False(saved.TryGetProperty("token", out _));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(config)!));

        // Later commands find the API there.
        api.OnJson(HttpMethod.Get, "/v1/hosts", Array.Empty<HostInfo>());
        Assert.Equal(0, (await run.RunAsync("host", "list")).Code);
    }

    [Fact]
    public async Task Login_FromStandardInput_SavesTheTokenItself()
    {
        using var home = new TempDirectory();
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/whoami", Alice);
        var run = new CliRun(api);
        run.Variables.Clear();
        run.Variables["XDG_CONFIG_HOME"] = home.Path;

        var result = await run.RunAsync(new StringReader(FakeApi.Token + "\n"), "login", "--api", FakeApi.Url, "--token-file", "-", "-o", "json");

        Assert.Equal(0, result.Code);
        var config = Path.Combine(home.Path, "fabric", "config.json");
        Assert.Equal(config, JsonDocument.Parse(result.Stdout).RootElement.GetProperty("config").GetString());
        Assert.Equal(FakeApi.Token, JsonDocument.Parse(File.ReadAllText(config)).RootElement.GetProperty("token").GetString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
    }

    [Fact]
    public async Task Login_WithATokenTheApiRefuses_SavesNothing()
    {
        using var home = new TempDirectory();
        var tokenFile = Path.Combine(home.Path, "t");
        File.WriteAllText(tokenFile, "fabric_dead_beef");
        var api = new FakeApi().On(HttpMethod.Get, "/v1/whoami", _ => FakeApi.Problem(HttpStatusCode.Unauthorized, "unauthenticated", "the token is not valid"));
        var run = new CliRun(api);
        run.Variables["HOME"] = home.Path;

        var result = await run.RunAsync("login", "--api", FakeApi.Url, "--token-file", tokenFile);

        Assert.Equal(1, result.Code);
        Assert.StartsWith("error: unauthenticated: ", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(home.Path, ".config")));
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
