using System.Net;
using Fabric.Client;
using Fabric.Contracts;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Security;

/// <summary>The API speaks HTTPS only, with a certificate clients check against the fabric's CA and nothing else.</summary>
[Collection(SecureFabricCollection.Name)]
public sealed class ApiTlsTests(SecureFabric fabric, ITestOutputHelper output)
{
    [Fact]
    public async Task Plain_http_to_the_api_port_gets_no_api_answer()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        var url = new Uri($"http://{fabric.Silo.Address}:{fabric.Silo.ApiPort}/v1/hosts");
        try
        {
            using var response = await http.GetAsync(url);
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"plain HTTP: {(int)response.StatusCode} {body}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.DoesNotContain("\"code\"", body, StringComparison.Ordinal);
        }
        catch (HttpRequestException ex)
        {
            output.WriteLine($"plain HTTP: {ex.Message}");
        }
    }

    [Fact]
    public async Task Https_answers_a_client_trusting_the_fabric_CA_and_a_client_trusting_another_CA_refuses_the_server()
    {
        using var anonymous = new HttpClient(fabric.Environment.ApiHandler(), disposeHandler: true) { BaseAddress = fabric.Silo.ApiUrl };
        using (var response = await anonymous.GetAsync("/v1/hosts"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("\"code\":\"unauthenticated\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // fabricctl's client: FABRIC_CA_FILE decides whom it trusts.
        var connection = FabricApiConnection.Create(fabric.Silo.ApiUrl.ToString(), fabric.Environment.AdminToken);
        using (var trusting = new FabricApiClient(connection with { CaFile = fabric.Environment.Pki.CaFile }))
        {
            Assert.Equal("admin", (await trusting.WhoAmIAsync()).User);
        }

        var (foreign, _, _) = fabric.Foreign("api-client");
        using var misled = new FabricApiClient(connection with { CaFile = foreign.CaFile });
        var refused = await Assert.ThrowsAsync<FabricException>(() => misled.WhoAmIAsync());
        output.WriteLine($"client trusting another CA: {refused.Code}: {refused.Message}");
        Assert.Equal(ErrorCodes.Unavailable, refused.Code);
        Assert.Contains("TLS failed", refused.Message, StringComparison.Ordinal);
    }
}
