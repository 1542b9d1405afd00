using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Api;

/// <summary>
/// One real host silo (with its REST API), Redis, and QEMU, shared by a test class; <see cref="Admin"/> calls the API
/// with the bootstrap admin token the silo registered from its token file, as <c>./fabric up</c> sets it up.
/// </summary>
public sealed class ApiFabric : IAsyncLifetime
{
    public FabricEnvironment Environment { get; private set; } = null!;

    /// <summary>A trusted in-cluster client, for checks behind the API's back (invariants, grain state).</summary>
    public FabricClient Cluster { get; private set; } = null!;

    public ApiCaller Admin { get; private set; } = null!;

    public ApiCaller Anonymous { get; private set; } = null!;

    /// <summary>The fabric's CA: it signed the API's HTTPS certificate and the client certificates callers present.</summary>
    public TestPki Pki => Environment.Pki;

    public async Task InitializeAsync()
    {
        Environment = await FabricEnvironment.StartAsync(NetworkTopology.Loopback, FabricEnvironment.FastReconcile, "host-a");
        Cluster = await Environment.ConnectAsync();
        Anonymous = Caller(token: null);
        Admin = Caller(Environment.AdminToken);

        // Every silo registers the bootstrap token once it runs; wait until the API accepts it.
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while ((await Admin.SendAsync(HttpMethod.Get, "/v1/whoami")).Status != HttpStatusCode.OK)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the bootstrap admin token was not accepted within 30 s");
            await Task.Delay(200);
        }
    }

    /// <summary>Creates a token of <paramref name="role"/> in <paramref name="project"/> through the API, and a caller holding it.</summary>
    public async Task<ApiCaller> CallerAsync(string user, string project, Role role, DateTimeOffset? expiresAt = null)
    {
        var issued = await Admin.PostAsync<IssuedToken>("/v1/tokens", new TokenRequest { User = user, Project = project, Role = role, ExpiresAt = expiresAt });
        Assert.Equal((user, project, role), (issued.Info.User, issued.Info.Project, issued.Info.Role));
        return new ApiCaller(Environment.ApiHandler(), Environment.ApiUrl, issued.Token) { TokenId = issued.Info.Id };
    }

    /// <summary>A caller of the API holding <paramref name="token"/> (or none), trusting the fabric's CA.</summary>
    public ApiCaller Caller(string? token) => new(Environment.ApiHandler(), Environment.ApiUrl, token);

    public async Task DisposeAsync()
    {
        Admin?.Dispose();
        Anonymous?.Dispose();
        await Environment.DisposeAsync();
    }
}

/// <summary>An HTTP client of the API holding one token (or none), with answers as status plus JSON.</summary>
public sealed class ApiCaller : IDisposable
{
    private readonly HttpClient _http;

    public ApiCaller(HttpMessageHandler handler, Uri baseUrl, string? token)
    {
        Token = token;
        _http = new HttpClient(handler, disposeHandler: true) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(120) };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public string? Token { get; }

    public string? TokenId { get; init; }

    public HttpClient Http => _http;

    public async Task<ApiAnswer> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: ApiJson.Compact);
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return new ApiAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, text);
    }

    public async Task<T> GetAsync<T>(string path) => (await SendAsync(HttpMethod.Get, path)).As<T>(HttpStatusCode.OK);

    public async Task<T> PostAsync<T>(string path, object? body = null)
    {
        var answer = await SendAsync(HttpMethod.Post, path, body ?? new { });
        Assert.True(answer.Status is HttpStatusCode.OK or HttpStatusCode.Created or HttpStatusCode.Accepted, $"POST {path}: {answer}");
        return answer.As<T>(answer.Status);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>One answer of the API.</summary>
public sealed record ApiAnswer(HttpStatusCode Status, string? MediaType, string Body)
{
    public T As<T>(HttpStatusCode expected)
    {
        Assert.True(Status == expected, $"expected {(int)expected}, got {this}");
        return JsonSerializer.Deserialize<T>(Body, ApiJson.Compact)!;
    }

    /// <summary>Asserts a problem detail with <paramref name="status"/> and fabric <paramref name="code"/>; returns its detail.</summary>
    public string AssertProblem(HttpStatusCode status, string code)
    {
        Assert.True(Status == status, $"expected {(int)status} {code}, got {this}");
        Assert.Equal("application/problem+json", MediaType);
        using var problem = JsonDocument.Parse(Body);
        Assert.Equal(code, problem.RootElement.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        return problem.RootElement.GetProperty("detail").GetString()!;
    }

    public override string ToString() => $"{(int)Status} {MediaType}: {(Body.Length > 400 ? Body[..400] + "…" : Body)}";
}
