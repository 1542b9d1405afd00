using System.Diagnostics;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Api;

/// <summary>A client in another language: a bash script using only curl drives a VM's life through the REST API.</summary>
public sealed class CurlClientTests(ApiFabric fabric, ITestOutputHelper output) : IClassFixture<ApiFabric>
{
    [Fact]
    public async Task A_curl_only_client_creates_starts_reads_the_console_of_types_into_and_deletes_a_vm()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Api", "curl-lifecycle.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { script, fabric.Environment.ApiUrl.ToString().TrimEnd('/'), fabric.Environment.AdminTokenFile, fabric.Pki.CaFile, "curl-vm" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);
        Assert.True(process.ExitCode == 0, $"the curl client failed ({process.ExitCode}): {await stderr}");
        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("created curl-vm", lines[0]);
        Assert.Equal("started curl-vm", lines[1]);
        Assert.StartsWith("fabric-guest ready boot=", lines[2], StringComparison.Ordinal);
        Assert.Equal(["typed a line", "deleted curl-vm", "gone: not-found"], lines[3..]);
        await Assert.ThrowsAsync<Contracts.FabricException>(() => fabric.Cluster.GetVmAsync("curl-vm"));
    }
}
