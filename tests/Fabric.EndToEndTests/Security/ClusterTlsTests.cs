using System.Net;
using Fabric.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Security;

/// <summary>
/// Orleans links are mutual TLS against the fabric's CA: a silo or client without a certificate the CA signed gets no
/// connection, and a silo of a cluster refuses to start without TLS at all.
/// </summary>
[Collection(SecureFabricCollection.Name)]
public sealed class ClusterTlsTests(SecureFabric fabric, ITestOutputHelper output)
{
    private static readonly TimeSpan JoinWindow = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_silo_whose_certificate_another_CA_signed_never_becomes_a_member()
    {
        // It trusts the fabric (its bundle holds both CAs) and reaches Redis: only its own certificate is wrong.
        var (foreign, certificate, key) = fabric.Foreign("host-x");
        var bundle = Path.Combine(foreign.Directory, "both.crt");
        await File.WriteAllTextAsync(bundle, await File.ReadAllTextAsync(foreign.CaFile) + "\n" + await File.ReadAllTextAsync(fabric.Environment.Pki.CaFile));
        var impostor = fabric.Environment.StartExtraSilo("host-x", "impostor", new Dictionary<string, string>
        {
            ["Fabric__Tls__CaFile"] = bundle,
            ["Fabric__Tls__CertificateFile"] = certificate,
            ["Fabric__Tls__KeyFile"] = key,
        });

        var client = await fabric.Environment.ConnectAsync();
        var management = client.ClusterClient.GetGrain<IManagementGrain>(0);
        var members = fabric.Environment.Silos.Values.Select(s => s.SiloPort).Order().ToList();
        var deadline = DateTimeOffset.UtcNow + JoinWindow;
        while (DateTimeOffset.UtcNow < deadline && !impostor.HasExited)
        {
            var active = await management.GetHosts(onlyActive: true);
            Assert.Equal(members, active.Keys.Select(s => s.Endpoint.Port).Order());
            await Task.Delay(500);
        }

        // The good silos refused its certificate, and it never served.
        Assert.Empty(impostor.LinesContaining(" is serving"));
        Assert.Contains("The remote certificate was rejected", await File.ReadAllTextAsync(fabric.Silo.Process.LogPath), StringComparison.Ordinal);
        Assert.DoesNotContain(await client.ListHostsAsync(), h => h.Name == "host-x");
        output.WriteLine($"impostor {(impostor.HasExited ? "exited" : "still not a member")}; its last lines:");
        foreach (var line in File.ReadLines(impostor.LogPath).TakeLast(5))
        {
            output.WriteLine("  " + line);
        }
    }

    [Fact]
    public async Task A_silo_of_a_cluster_without_a_certificate_refuses_to_start()
    {
        var bare = fabric.Environment.StartExtraSilo("host-y", "bare", new Dictionary<string, string>
        {
            ["Fabric__Tls__CaFile"] = "",
            ["Fabric__Tls__CertificateFile"] = "",
            ["Fabric__Tls__KeyFile"] = "",
        });

        Assert.Equal(2, await bare.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Single(bare.LinesContaining("error: invalid-spec: Fabric:Tls:CertificateFile: is required with Fabric:Redis"));
    }

    [Fact]
    public async Task An_orleans_client_without_the_fabric_certificate_cannot_use_the_gateway()
    {
        // The same client with the fabric's client identity connects: the refusals below are TLS's.
        Assert.Null(await ConnectAsync(c => c.UseTls(fabric.Environment.ClientTls.Configure)));

        var plaintext = await ConnectAsync(_ => { });
        Assert.NotNull(plaintext);
        output.WriteLine($"plaintext client: {plaintext.GetType().Name}: {plaintext.Message}");

        var (foreign, certificate, key) = fabric.Foreign("stranger");
        var bundle = Path.Combine(foreign.Directory, "both.crt");
        await File.WriteAllTextAsync(bundle, await File.ReadAllTextAsync(foreign.CaFile) + "\n" + await File.ReadAllTextAsync(fabric.Environment.Pki.CaFile));
        var stranger = await ConnectAsync(c => c.UseTls(new FabricTls(bundle, certificate, key).Configure));
        Assert.NotNull(stranger);
        output.WriteLine($"client with a foreign certificate: {stranger.GetType().Name}: {stranger.Message}");
    }

    /// <summary>An Orleans client straight to host-a's gateway; null when it connected and a grain answered, else why not.</summary>
    private async Task<Exception?> ConnectAsync(Action<IClientBuilder> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = fabric.Environment.ClusterId;
                o.ServiceId = fabric.Environment.ServiceId;
            });
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, fabric.Silo.GatewayPort));
            configure(client);
        });
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await host.StartAsync(timeout.Token);
            await host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(timeout.Token);
            await host.StopAsync(CancellationToken.None);
            return null;
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
        {
            return ex;
        }
    }
}
