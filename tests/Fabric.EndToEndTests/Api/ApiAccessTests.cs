using System.Collections.Immutable;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.OpenApi;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Api;

/// <summary>
/// The REST API over real HTTP against a real silo: credentials on every route (enumerated from the OpenAPI document,
/// so a new route cannot forget them), roles, projects, quotas, token revocation and expiry, and the audit trail.
/// </summary>
public sealed class ApiAccessTests(ApiFabric fabric, ITestOutputHelper output) : IClassFixture<ApiFabric>
{
    [Fact]
    public async Task The_OpenAPI_document_validates_and_every_route_in_it_refuses_a_request_without_valid_credentials()
    {
        var document = await fabric.Anonymous.SendAsync(HttpMethod.Get, "/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, document.Status);
        var read = OpenApiDocument.Parse(document.Body, "json");
        Assert.Empty(read.Diagnostic?.Errors ?? []);
        Assert.NotNull(read.Document);
        Assert.Contains("fabricToken", read.Document!.Components!.SecuritySchemes!.Keys);

        var operations = new List<(HttpMethod Method, string Path)>();
        using (var json = JsonDocument.Parse(document.Body))
        {
            foreach (var path in json.RootElement.GetProperty("paths").EnumerateObject())
            {
                foreach (var method in path.Value.EnumerateObject().Where(m => m.Name is "get" or "post" or "put" or "delete" or "patch"))
                {
                    // Route parameters get harmless values: the request must be refused before anything looks them up.
                    var concrete = System.Text.RegularExpressions.Regex.Replace(path.Name, "{[^}]+}", m => m.Value.Contains("rule", StringComparison.Ordinal) ? "1" : "x");
                    operations.Add((new HttpMethod(method.Name.ToUpperInvariant()), concrete));
                }
            }
        }

        output.WriteLine($"{operations.Count} operations in the OpenAPI document");
        Assert.True(operations.Count >= 50, $"only {operations.Count} operations are documented");
        Assert.All(operations, o => Assert.StartsWith("/v1/", o.Path, StringComparison.Ordinal));
        foreach (var routeName in new[] { "/v1/vms", "/v1/hosts", "/v1/events", "/v1/audit", "/v1/tokens", "/v1/projects", "/v1/networks", "/v1/pools", "/v1/volumes", "/v1/images", "/v1/vms/x/console" })
        {
            Assert.Contains(operations, o => o.Path == routeName);
        }

        using var forged = fabric.Caller("fabric_0123456789ab_" + new string('A', 43));
        using var malformed = fabric.Caller("not-a-token");
        foreach (var (method, path) in operations)
        {
            foreach (var caller in new[] { fabric.Anonymous, forged, malformed })
            {
                var answer = await caller.SendAsync(method, path, method == HttpMethod.Get || method == HttpMethod.Delete ? null : new { });
                Assert.True(answer.Status == HttpStatusCode.Unauthorized, $"{method} {path} with {(caller.Token is null ? "no token" : caller.Token)}: {answer}");
                answer.AssertProblem(HttpStatusCode.Unauthorized, ErrorCodes.Unauthenticated);
            }
        }

        // The reference page lists the routes too.
        var page = await fabric.Anonymous.SendAsync(HttpMethod.Get, "/reference");
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains("/v1/vms/{vm}/migrate", page.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Viewers_read_operators_act_and_nobody_reaches_another_projects_vms()
    {
        await fabric.Admin.PostAsync<ProjectInfo>("/v1/projects", new ProjectRequest("alpha", null));
        await fabric.Admin.PostAsync<ProjectInfo>("/v1/projects", new ProjectRequest("beta", null));
        using var operatorA = await fabric.CallerAsync("olga", "alpha", Role.Operator);
        using var viewerA = await fabric.CallerAsync("victor", "alpha", Role.Viewer);
        using var operatorB = await fabric.CallerAsync("boris", "beta", Role.Operator);

        // B's event stream is open before A acts: it must see none of A's events.
        using var streamsDone = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var eventsOfB = ReadEventsAsync(operatorB, streamsDone.Token);
        var eventsOfA = ReadEventsAsync(operatorA, streamsDone.Token);

        var created = await operatorA.PostAsync<VmInfo>("/v1/vms", new VmSpec { Name = "alpha-1", Image = "tiny", MemoryMiB = 32 });
        Assert.Equal("alpha", created.Project);
        await operatorB.PostAsync<VmInfo>("/v1/vms", new VmSpec { Name = "beta-1", Image = "tiny", MemoryMiB = 32 });
        var started = await operatorA.PostAsync<VmInfo>("/v1/vms/alpha-1/start");
        Assert.Equal(VmState.Running, started.State);

        // The viewer reads and may not act.
        Assert.Equal("alpha-1", (await viewerA.GetAsync<VmInfo>("/v1/vms/alpha-1")).Name);
        (await viewerA.SendAsync(HttpMethod.Post, "/v1/vms/alpha-1/stop")).AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.Forbidden);
        (await viewerA.SendAsync(HttpMethod.Delete, "/v1/vms/alpha-1")).AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.Forbidden);
        (await viewerA.SendAsync(HttpMethod.Post, "/v1/vms", new VmSpec { Name = "viewer-made", Image = "tiny" })).AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.Forbidden);
        (await viewerA.SendAsync(HttpMethod.Get, "/v1/vms/alpha-1/console")).AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.Forbidden);

        // Another project's operator: forbidden on every route of the VM, and the VM is absent from its lists.
        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Get, "/v1/vms/alpha-1", null),
            (HttpMethod.Post, "/v1/vms/alpha-1/stop", new { }),
            (HttpMethod.Post, "/v1/vms/alpha-1/pause", new { }),
            (HttpMethod.Post, "/v1/vms/alpha-1/migrate", new MigrationRequest()),
            (HttpMethod.Post, "/v1/vms/alpha-1/snapshots", new SnapshotRequest("s")),
            (HttpMethod.Get, "/v1/vms/alpha-1/console", null),
            (HttpMethod.Post, "/v1/vms/alpha-1/console", new ConsoleLine("id")),
            (HttpMethod.Delete, "/v1/vms/alpha-1", null),
            (HttpMethod.Post, "/v1/vms", new VmSpec { Name = "sneaky", Image = "tiny", Project = "alpha" }),
            (HttpMethod.Get, "/v1/projects/alpha", null),
            (HttpMethod.Get, "/v1/audit", null),
            (HttpMethod.Post, "/v1/tokens", new TokenRequest { User = "me", Project = "alpha", Role = Role.Admin }),
            (HttpMethod.Post, "/v1/hosts/host-a/cordon", new { }),
        })
        {
            var answer = await operatorB.SendAsync(method, path, body);
            Assert.True(answer.Status == HttpStatusCode.Forbidden, $"{method} {path} as beta's operator: {answer}");
            answer.AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.Forbidden);
        }

        Assert.Equal(["beta-1"], (await operatorB.GetAsync<ImmutableArray<VmInfo>>("/v1/vms")).Select(v => v.Name));
        Assert.Equal(["alpha-1"], (await viewerA.GetAsync<ImmutableArray<VmInfo>>("/v1/vms")).Select(v => v.Name));
        Assert.DoesNotContain("alpha-1", (await operatorB.GetAsync<HostInfo>("/v1/hosts/host-a")).Vms);
        Assert.Contains("alpha-1", (await fabric.Admin.GetAsync<HostInfo>("/v1/hosts/host-a")).Vms);
        Assert.Equal(["beta"], (await operatorB.GetAsync<ImmutableArray<ProjectInfo>>("/v1/projects")).Select(p => p.Name));

        // The console WebSocket: refused for another project, open for the VM's operator.
        using (var refused = new ClientWebSocket())
        {
            refused.Options.SetRequestHeader("Authorization", $"Bearer {operatorB.Token}");
            TrustFabric(refused);
            var error = await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(WebSocketUri("/v1/vms/alpha-1/console"), CancellationToken.None));
            output.WriteLine($"beta's console WebSocket: {error.Message}");
        }

        using (var console = new ClientWebSocket())
        {
            console.Options.SetRequestHeader("Authorization", $"Bearer {operatorA.Token}");
            TrustFabric(console);
            await console.ConnectAsync(WebSocketUri("/v1/vms/alpha-1/console"), CancellationToken.None);
            var text = "";
            var buffer = new byte[64 * 1024];
            using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!text.Contains("fabric-guest ready", StringComparison.Ordinal))
            {
                var received = await console.ReceiveAsync(buffer, reading.Token);
                text += System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count);
            }

            await console.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }

        await operatorA.PostAsync<VmInfo>("/v1/vms/alpha-1/stop?force=true");
        Assert.Equal(HttpStatusCode.NoContent, (await operatorA.SendAsync(HttpMethod.Delete, "/v1/vms/alpha-1")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await operatorB.SendAsync(HttpMethod.Delete, "/v1/vms/beta-1")).Status);

        // A's stream saw A's VM come and go; B's saw B's and nothing of A's.
        var seenByA = await eventsOfA.WaitUntilAsync(e => e.Vm == "alpha-1" && e.Kind == FleetEventKind.VmDeleted);
        var seenByB = await eventsOfB.WaitUntilAsync(e => e.Vm == "beta-1" && e.Kind == FleetEventKind.VmDeleted);
        await streamsDone.CancelAsync();
        Assert.Contains(seenByA, e => e.Vm == "alpha-1" && e.Kind == FleetEventKind.VmStateChanged);
        Assert.DoesNotContain(seenByB, e => e.Vm == "alpha-1");
        Assert.DoesNotContain(seenByA, e => e.Vm == "beta-1");

        // The audit trail holds each mutation, with who, project, action, target, result and source, and no secret.
        var trail = await fabric.Admin.GetAsync<ImmutableArray<AuditEntry>>("/v1/audit?project=alpha");
        foreach (var (user, action, target, result) in new[]
        {
            ("olga", "vm.create", "vms", "ok"),
            ("olga", "vm.start", "vms/alpha-1/start", "ok"),
            ("victor", "vm.stop", "vms/alpha-1/stop", ErrorCodes.Forbidden),
            ("boris", "vm.delete", "vms/alpha-1", ErrorCodes.Forbidden),
            ("olga", "vm.console.session", "vms/alpha-1/console", "ok"),
            ("olga", "vm.delete", "vms/alpha-1", "ok"),
        })
        {
            Assert.Contains(trail, row => row.User == user && row.Action == action && row.Target == target && row.Result == result && row.Project == "alpha" && row.Source is { Length: > 0 });
        }

        var byBoris = await fabric.Admin.GetAsync<ImmutableArray<AuditEntry>>("/v1/audit?user=boris");
        Assert.NotEmpty(byBoris);
        Assert.All(byBoris, row => Assert.Equal("boris", row.User));
        var everything = (await fabric.Admin.SendAsync(HttpMethod.Get, "/v1/audit?limit=10000")).Body + await File.ReadAllTextAsync(Path.Combine(fabric.Environment.Directory, "logs", "host-a.log"));
        foreach (var secret in new[] { operatorA.Token!, viewerA.Token!, operatorB.Token!, fabric.Environment.AdminToken })
        {
            Assert.DoesNotContain(SecretOf(secret), everything, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Concurrent_creates_never_exceed_a_projects_quota()
    {
        await fabric.Admin.PostAsync<ProjectInfo>("/v1/projects", new ProjectRequest("quota", new ProjectQuota { Vms = 3, VCpus = 100 }));
        using var operatorQ = await fabric.CallerAsync("quinn", "quota", Role.Operator);
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            operatorQ.SendAsync(HttpMethod.Post, "/v1/vms", new VmSpec { Name = $"q-{i}", Image = "tiny", MemoryMiB = 32 })));
        var created = answers.Where(a => a.Status == HttpStatusCode.Created).ToArray();
        Assert.Equal(3, created.Length);
        foreach (var refused in answers.Where(a => a.Status != HttpStatusCode.Created))
        {
            Assert.Contains("vms", refused.AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.InsufficientQuota), StringComparison.Ordinal);
        }

        var project = await operatorQ.GetAsync<ProjectInfo>("/v1/projects/quota");
        Assert.Equal((3, 3), (project.Usage.Vms, project.Usage.VCpus));
        Assert.Equal(3, (await operatorQ.GetAsync<ImmutableArray<VmInfo>>("/v1/vms")).Length);

        // Deleting one makes room for one; a vCPU quota is named when it is the one passed.
        var first = JsonSerializer.Deserialize<VmInfo>(created[0].Body, ApiJson.Compact)!;
        Assert.Equal(HttpStatusCode.NoContent, (await operatorQ.SendAsync(HttpMethod.Delete, $"/v1/vms/{first.Name}")).Status);
        await fabric.Admin.SendAsync(HttpMethod.Put, "/v1/projects/quota/quota", new ProjectQuota { Vms = 10, VCpus = 3 });
        (await operatorQ.SendAsync(HttpMethod.Post, "/v1/vms", new VmSpec { Name = "q-big", Image = "tiny", VCpus = 2, MemoryMiB = 32 }))
            .AssertProblem(HttpStatusCode.Forbidden, ErrorCodes.InsufficientQuota);
        await operatorQ.PostAsync<VmInfo>("/v1/vms", new VmSpec { Name = "q-small", Image = "tiny", MemoryMiB = 32 });
        foreach (var vm in await operatorQ.GetAsync<ImmutableArray<VmInfo>>("/v1/vms"))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await operatorQ.SendAsync(HttpMethod.Delete, $"/v1/vms/{vm.Name}")).Status);
        }

        Assert.Equal(0, (await operatorQ.GetAsync<ProjectInfo>("/v1/projects/quota")).Usage.Vms);
    }

    [Fact]
    public async Task Oversized_malformed_and_hostile_requests_are_invalid_spec_naming_what_is_wrong()
    {
        using var huge = new StringContent("{\"name\":\"big\",\"image\":\"tiny\",\"labels\":{\"a\":\"" + new string('x', 2 * 1024 * 1024) + "\"}}", System.Text.Encoding.UTF8, "application/json");
        using (var response = await fabric.Admin.Http.PostAsync("/v1/vms", huge))
        {
            var answer = new ApiAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
            Assert.Contains("body", answer.AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        }

        using (var malformed = new StringContent("{\"name\": [", System.Text.Encoding.UTF8, "application/json"))
        using (var response = await fabric.Admin.Http.PostAsync("/v1/vms", malformed))
        {
            new ApiAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync())
                .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec);
        }

        var labels = Enumerable.Range(0, 40).ToImmutableSortedDictionary(i => $"k{i}", i => "v");
        Assert.Contains("labels", (await fabric.Admin.SendAsync(HttpMethod.Post, "/v1/vms", new VmSpec { Name = "many-labels", Image = "tiny", Labels = labels }))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        var selector = string.Join(',', Enumerable.Range(0, 40).Select(i => $"k{i}=v"));
        Assert.Contains("selector", (await fabric.Admin.SendAsync(HttpMethod.Get, $"/v1/vms?selector={selector}"))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        Assert.Contains("name", (await fabric.Admin.SendAsync(HttpMethod.Post, "/v1/vms", new VmSpec { Name = "../etc", Image = "tiny" }))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        await fabric.Admin.PostAsync<VmInfo>("/v1/vms", new VmSpec { Name = "limits", Image = "tiny", MemoryMiB = 32 });
        Assert.StartsWith("line:", (await fabric.Admin.SendAsync(HttpMethod.Post, "/v1/vms/limits/console", new ConsoleLine(new string('x', 5000))))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        Assert.StartsWith("wait:", (await fabric.Admin.SendAsync(HttpMethod.Get, "/v1/vms/limits?state=Running&wait=100000"))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        Assert.StartsWith("state:", (await fabric.Admin.SendAsync(HttpMethod.Get, "/v1/vms/limits?state=Sleeping&wait=1"))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, (await fabric.Admin.SendAsync(HttpMethod.Delete, "/v1/vms/limits")).Status);
        Assert.Contains("limit", (await fabric.Admin.SendAsync(HttpMethod.Get, "/v1/audit?limit=100001"))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoked_and_expired_tokens_are_refused_at_once()
    {
        using var revoked = await fabric.CallerAsync("rita", ProjectInfo.Default, Role.Viewer);
        using var expiring = await fabric.CallerAsync("eve", ProjectInfo.Default, Role.Viewer, DateTimeOffset.UtcNow.AddSeconds(3));
        Assert.Equal(HttpStatusCode.OK, (await revoked.SendAsync(HttpMethod.Get, "/v1/vms")).Status);
        Assert.Equal(HttpStatusCode.OK, (await expiring.SendAsync(HttpMethod.Get, "/v1/vms")).Status);

        var info = (await fabric.Admin.SendAsync(HttpMethod.Delete, $"/v1/tokens/{revoked.TokenId}")).As<TokenInfo>(HttpStatusCode.OK);
        Assert.NotNull(info.RevokedAt);
        (await revoked.SendAsync(HttpMethod.Get, "/v1/vms")).AssertProblem(HttpStatusCode.Unauthorized, ErrorCodes.Unauthenticated);

        await Task.Delay(TimeSpan.FromSeconds(3.5));
        (await expiring.SendAsync(HttpMethod.Get, "/v1/vms")).AssertProblem(HttpStatusCode.Unauthorized, ErrorCodes.Unauthenticated);

        // Listed without secrets; the refused requests' trail says who tried.
        var listed = await fabric.Admin.GetAsync<ImmutableArray<TokenInfo>>("/v1/tokens");
        Assert.Contains(listed, t => t.Id == revoked.TokenId && t.RevokedAt is not null);
        Assert.DoesNotContain(SecretOf(revoked.Token!), (await fabric.Admin.SendAsync(HttpMethod.Get, "/v1/tokens")).Body, StringComparison.Ordinal);
        (await fabric.Admin.SendAsync(HttpMethod.Post, "/v1/tokens", new TokenRequest { User = "late", Role = Role.Viewer, ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) }))
            .AssertProblem(HttpStatusCode.BadRequest, ErrorCodes.InvalidSpec);
    }

    private static string SecretOf(string token)
    {
        Assert.True(ApiTokens.TryParse(token, out _, out var secret));
        Assert.True(secret.Length >= 40);
        return secret;
    }

    private void TrustFabric(ClientWebSocket socket)
    {
        var trust = FabricTrust.Load("CaFile", fabric.Pki.CaFile);
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, errors) => trust.TrustsServer(certificate, errors);
    }

    private Uri WebSocketUri(string path) => new($"wss://{fabric.Environment.ApiUrl.Authority}{path}");

    private static EventReader ReadEventsAsync(ApiCaller caller, CancellationToken cancellationToken) => new(caller, cancellationToken);
}
