using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Api;

/// <summary>
/// Client certificates as identities on the API's HTTPS listener: one the fabric's CA signed is its subject's user,
/// project and role; one from another CA, or with no role, is refused with 401 like a bad token.
/// </summary>
public sealed class ClientCertificateTests(ApiFabric fabric) : IClassFixture<ApiFabric>
{
    [Fact]
    public async Task A_certificate_from_the_fabric_CA_identifies_its_holder_and_one_from_another_CA_is_refused()
    {
        using var viewer = fabric.Pki.IssueClient("carla", ProjectInfo.Default, "viewer");
        using (var http = Over(viewer))
        {
            var whoami = await http.GetAsync("/v1/whoami");
            Assert.Equal(HttpStatusCode.OK, whoami.StatusCode);
            var token = JsonSerializer.Deserialize<TokenInfo>(await whoami.Content.ReadAsStringAsync(), ApiJson.Compact)!;
            Assert.Equal(("carla", ProjectInfo.Default, Role.Viewer), (token.User, token.Project, token.Role));
            Assert.StartsWith("cert-", token.Id, StringComparison.Ordinal);

            // Its role holds: a viewer reads and may not act.
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/vms")).StatusCode);
            var refused = await http.PostAsync("/v1/hosts/host-a/cordon", null);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var foreign = TestPki.Create(Path.Combine(fabric.Environment.Directory, "foreign-pki"), "foreign-ca");
        using var impostor = foreign.IssueClient("admin", ProjectInfo.Default, "admin");
        using (var http = Over(impostor))
        {
            var answer = await http.GetAsync("/v1/whoami");
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
            Assert.Contains("\"code\":\"unauthenticated\"", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var roleless = fabric.Pki.IssueClient("nobody", ProjectInfo.Default, "superuser");
        using (var http = Over(roleless))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/whoami")).StatusCode);
        }

        // Without a certificate or token, the HTTPS listener refuses like the plain one.
        using (var http = Over(null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/vms")).StatusCode);
        }
    }

    /// <summary>An HTTPS client that trusts only the fabric's CA and presents <paramref name="certificate"/>.</summary>
    private HttpClient Over(X509Certificate2? certificate)
    {
        var handler = fabric.Environment.ApiHandler();
        handler.SslOptions.ClientCertificates = certificate is null ? null : new X509CertificateCollection { certificate };
        return new HttpClient(handler, disposeHandler: true) { BaseAddress = fabric.Environment.ApiUrl, Timeout = TimeSpan.FromSeconds(30) };
    }
}
