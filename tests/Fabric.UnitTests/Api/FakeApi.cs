using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.UnitTests.Api;

/// <summary>One request as the fake API saw it.</summary>
public sealed record SeenRequest(HttpMethod Method, string PathAndQuery, string? Body, string? Authorization, string? Accept);

/// <summary>
/// A fake of the fabric's HTTP API: an <see cref="HttpMessageHandler"/> that answers each request with the first route
/// whose method and path (with its query) match, and records every request. Unmatched requests are 404 problems.
/// </summary>
public sealed class FakeApi : HttpMessageHandler
{
    public const string Url = "http://fabric.test:8081/";
    public const string Token = "fabric_0123abcd_s3cret";

    private readonly List<(HttpMethod Method, Func<string, bool> Matches, Func<SeenRequest, HttpResponseMessage> Answer)> _routes = [];
    private readonly ConcurrentQueue<SeenRequest> _seen = new();

    public IReadOnlyList<SeenRequest> Seen => [.. _seen];

    /// <summary>The connection of the fake (a handler's own Dispose does nothing, so the fake outlives the clients made on it).</summary>
    public static FabricApiConnection Connection => FabricApiConnection.Create(Url, Token);

    /// <summary>Answers <paramref name="method"/> <paramref name="path"/> (exactly, query included) with <paramref name="answer"/>.</summary>
    public FakeApi On(HttpMethod method, string path, Func<SeenRequest, HttpResponseMessage> answer)
    {
        _routes.Add((method, p => p == path, answer));
        return this;
    }

    /// <summary>Answers requests whose path and query start with <paramref name="prefix"/>.</summary>
    public FakeApi OnPrefix(HttpMethod method, string prefix, Func<SeenRequest, HttpResponseMessage> answer)
    {
        _routes.Add((method, p => p.StartsWith(prefix, StringComparison.Ordinal), answer));
        return this;
    }

    /// <summary>Answers with <paramref name="value"/> as JSON.</summary>
    public FakeApi OnJson<T>(HttpMethod method, string path, T value, HttpStatusCode status = HttpStatusCode.OK) =>
        On(method, path, _ => Json(value, status));

    public FabricApiClient Client() => new(Connection, this);

    public static HttpResponseMessage Json<T>(T value, HttpStatusCode status = HttpStatusCode.OK) => new(status)
    {
        Content = new StringContent(JsonSerializer.Serialize(value, ApiJson.Compact), Encoding.UTF8, "application/json"),
    };

    /// <summary>An RFC 9457 problem as the API writes one.</summary>
    public static HttpResponseMessage Problem(HttpStatusCode status, string code, string detail) => new(status)
    {
        Content = new StringContent(JsonSerializer.Serialize(new { type = "about:blank", title = status.ToString(), status = (int)status, detail, code }), Encoding.UTF8, "application/problem+json"),
    };

    public static HttpResponseMessage Status(HttpStatusCode status, string? text = null) => new(status)
    {
        Content = text is null ? null : new StringContent(text, Encoding.UTF8, "text/html"),
    };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        var seen = new SeenRequest(
            request.Method,
            request.RequestUri!.PathAndQuery,
            body,
            request.Headers.Authorization?.ToString(),
            request.Headers.Accept.ToString());
        _seen.Enqueue(seen);
        foreach (var (method, matches, answer) in _routes)
        {
            if (method == request.Method && matches(seen.PathAndQuery))
            {
                var response = answer(seen);
                response.RequestMessage = request;
                return response;
            }
        }

        return Problem(HttpStatusCode.NotFound, ErrorCodes.NotFound, $"no fake route for {request.Method} {seen.PathAndQuery}");
    }
}
