using System.Diagnostics;
using System.Globalization;

namespace Fabric.EndToEndTests.Security;

/// <summary>Redis answers only over TLS, and only a client that gives the fabric's password.</summary>
[Collection(SecureFabricCollection.Name)]
public sealed class RedisSecurityTests(SecureFabric fabric)
{
    [Fact]
    public async Task Redis_refuses_a_client_without_the_password_or_without_tls()
    {
        var redis = fabric.Environment.Redis;
        var password = (await File.ReadAllTextAsync(redis.PasswordFile)).Trim();
        string[] tls = ["--tls", "--cacert", redis.CaFile];

        Assert.Equal("PONG", await RedisCliAsync(password, tls));
        Assert.Contains("NOAUTH", await RedisCliAsync(null, tls), StringComparison.Ordinal);
        Assert.Contains("WRONGPASS", await RedisCliAsync("not-the-password", tls), StringComparison.Ordinal);
        Assert.DoesNotContain("PONG", await RedisCliAsync(password, []), StringComparison.Ordinal);
    }

    /// <summary>redis-cli ping; the password, if any, in its environment (as ./fabric passes it); all it printed.</summary>
    private async Task<string> RedisCliAsync(string? password, string[] options)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in options.Concat(["-h", "127.0.0.1", "-p", fabric.Environment.Redis.Port.ToString(CultureInfo.InvariantCulture), "ping"]))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("REDISCLI_AUTH");
        if (password is not null)
        {
            start.Environment["REDISCLI_AUTH"] = password;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
        return ((await output) + (await error)).Trim();
    }
}
