using System.Diagnostics;
using System.Net;
using Fabric.Contracts;

namespace Fabric.EndToEndTests.Security;

/// <summary>
/// Secrets stay in their files: Redis's password, the admin token and the private keys appear in no log, no audit row,
/// no host's description and no process's command line.
/// </summary>
[Collection(SecureFabricCollection.Name)]
public sealed class SecretHygieneTests(SecureFabric fabric)
{
    [Fact]
    public async Task No_log_audit_row_or_command_line_holds_a_secret()
    {
        var environment = fabric.Environment;
        using var admin = new HttpClient(environment.ApiHandler(), disposeHandler: true) { BaseAddress = fabric.Silo.ApiUrl };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", environment.AdminToken);
        using var forged = new HttpClient(environment.ApiHandler(), disposeHandler: true) { BaseAddress = fabric.Silo.ApiUrl };
        forged.DefaultRequestHeaders.Authorization = new("Bearer", environment.AdminToken[..^4] + "AAAA");

        // Some audited work, and a refused caller, so the trail and the logs have something to say.
        using (var created = await admin.PostAsync("/v1/projects", Json("""{"name":"hygiene"}""")))
        {
            Assert.True(created.IsSuccessStatusCode, $"{created.StatusCode}: {await created.Content.ReadAsStringAsync()}");
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await forged.GetAsync("/v1/hosts")).StatusCode);
        var trail = await admin.GetStringAsync("/v1/audit?limit=10000");
        Assert.Contains("hygiene", trail, StringComparison.Ordinal);

        var host = await admin.GetStringAsync("/v1/hosts/host-a");
        Assert.Contains("host-a", host, StringComparison.Ordinal);
        var logs = Directory.EnumerateFiles(environment.Directory, "*.log", SearchOption.AllDirectories).Select(File.ReadAllText);
        var everything = string.Join('\n', [trail, host, await CommandLinesAsync(), .. logs]);
        Assert.True(ApiTokens.TryParse(environment.AdminToken, out _, out var tokenSecret));
        var secrets = new Dictionary<string, string>
        {
            ["the Redis password"] = (await File.ReadAllTextAsync(environment.Redis.PasswordFile)).Trim(),
            ["the admin token's secret"] = tokenSecret,
        };
        foreach (var keyFile in Directory.EnumerateFiles(environment.Pki.Directory, "*.key"))
        {
            secrets[$"the private key {Path.GetFileName(keyFile)}"] = KeyBody(await File.ReadAllTextAsync(keyFile));
        }

        Assert.True(secrets.Count >= 4, $"expected the password, the token and at least host-a's and Redis's keys: {string.Join(", ", secrets.Keys)}");
        foreach (var (what, secret) in secrets)
        {
            Assert.True(secret.Length >= 32, $"{what} is too short to search for");
            Assert.False(everything.Contains(secret, StringComparison.Ordinal), $"{what} appears in a log, the audit trail, host get or a command line");
        }
    }

    private static StringContent Json(string text) => new(text, System.Text.Encoding.UTF8, "application/json");

    /// <summary>A PEM key's base64 body on one line: what a leak would show, whatever its line breaks.</summary>
    private static string KeyBody(string pem) => string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim()));

    private static async Task<string> CommandLinesAsync()
    {
        var start = new ProcessStartInfo("ps", ["-eo", "args"]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text;
    }
}
