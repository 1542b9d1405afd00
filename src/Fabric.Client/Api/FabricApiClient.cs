using System.Collections.Immutable;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// The typed .NET API of a fabric over its HTTP API (docs/api.md): the same methods as the Orleans
/// <see cref="FabricClient"/>, for programs outside the cluster (fabricctl among them). Every failure is a
/// <see cref="FabricException"/>: the API's problem details give its code and message; an API that cannot be reached,
/// or answers 5xx without them, is <c>unavailable</c> naming its URL; a refused token is <c>unauthenticated</c>.
/// Thread-safe; one instance serves any number of concurrent calls.
/// </summary>
public sealed partial class FabricApiClient : IDisposable
{
    /// <summary>The most a response body may hold (a fleet's VM list with histories fits many times over).</summary>
    private const long MaxResponseBytes = 256L << 20;

    /// <summary>The most of an error body read for its problem details.</summary>
    private const int MaxProblemBytes = 64 * 1024;

    /// <summary>The most of a server's message shown in an error.</summary>
    private const int MaxDetailLength = 2000;

    /// <summary>How long a long poll is given beyond the wait it asked the server for.</summary>
    private static readonly TimeSpan PollMargin = TimeSpan.FromSeconds(30);

    /// <summary>How long a call that copies or snapshots whole disks or memory may take (the silo's own limit is 10 min).</summary>
    private static readonly TimeSpan LongOperationTimeout = TimeSpan.FromMinutes(11);

    private readonly HttpClient _http;
    private readonly FabricApiConnection _connection;

    /// <summary>A client of the API <paramref name="connection"/> describes. Opens no connection until the first call.</summary>
    public FabricApiClient(FabricApiConnection connection)
        : this(connection, CreateHandler(connection))
    {
    }

    /// <summary>
    /// A client that sends its requests through <paramref name="handler"/> (a proxy, a test's fake); the client disposes
    /// it.
    /// </summary>
    public FabricApiClient(FabricApiConnection connection, HttpMessageHandler handler)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(handler);
        _connection = connection;
        _http = new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = connection.BaseUrl,

            // Each call sets its own deadline (long polls and streams need longer ones).
            Timeout = Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxResponseBytes,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", connection.Token);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Fabric.Client", "1"));
    }

    /// <summary>The API's base URL.</summary>
    public Uri BaseUrl => _connection.BaseUrl;

    /// <summary>The caller as the API knows it: its token's user, project and role (never its secret).</summary>
    public Task<TokenInfo> WhoAmIAsync(CancellationToken cancellationToken = default) => GetAsync<TokenInfo>("v1/whoami", cancellationToken);

    public void Dispose() => _http.Dispose();

    private static SocketsHttpHandler CreateHandler(FabricApiConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = connection.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        if (connection.CaFile is { } caFile)
        {
            var trust = FabricTrust.Load(FabricApiConnection.CaFileVariable, caFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => trust.TrustsServer(certificate, errors);
        }

        return handler;
    }

    /// <summary>A path segment: a name escaped whole, so that no name can reach another route.</summary>
    private static string Segment(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Uri.EscapeDataString(value);
    }

    private static string Query(string value) => Uri.EscapeDataString(value);

    private Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        SendAsync<T>(HttpMethod.Get, path, null, _connection.RequestTimeout, cancellationToken);

    /// <summary>A list: never a default array, whatever the server sent (<c>null</c> is not a list).</summary>
    private async Task<ImmutableArray<T>> ListAsync<T>(string path, CancellationToken cancellationToken)
    {
        var list = await GetAsync<ImmutableArray<T>>(path, cancellationToken);
        return list.IsDefault ? throw FabricException.Unavailable($"the fabric's API at {BaseUrl} answered GET /{PathOnly(path)} with no list") : list;
    }

    private Task<T> PostAsync<T>(string path, object? body, CancellationToken cancellationToken) =>
        SendAsync<T>(HttpMethod.Post, path, body, _connection.RequestTimeout, cancellationToken);

    /// <summary>Sends a request and reads its answer as a <typeparamref name="T"/>.</summary>
    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var response = await SendAsync(method, path, body, HttpCompletionOption.ResponseContentRead, timeout, deadline.Token, cancellationToken);
        try
        {
            return await response.Content.ReadFromJsonAsync(FabricApiJson.Info<T>(FabricApiJson.Compact), deadline.Token)
                ?? throw FabricException.Unavailable($"the fabric's API at {BaseUrl} answered {method} /{PathOnly(path)} with no {typeof(T).Name}");
        }
        catch (JsonException ex)
        {
            throw FabricException.Unavailable($"the fabric's API at {BaseUrl} answered {method} /{PathOnly(path)} with JSON that is not a {typeof(T).Name}: {ex.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(method, path, timeout);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ex);
        }
    }

    /// <summary>Sends a request whose answer carries nothing the caller needs (a 204, or an object it ignores).</summary>
    private async Task SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_connection.RequestTimeout);
        using var response = await SendAsync(method, path, body, HttpCompletionOption.ResponseHeadersRead, _connection.RequestTimeout, deadline.Token, cancellationToken);
    }

    /// <summary>
    /// Sends a request and returns its successful response (the caller disposes it); every failure becomes a
    /// <see cref="FabricException"/>.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body, HttpCompletionOption completion, TimeSpan timeout, CancellationToken deadline, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, FabricApiJson.Compact.GetTypeInfo(body.GetType()));
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, deadline);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(method, path, timeout);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ErrorAsync(response, deadline);
        }
    }

    /// <summary>The fabric error an unsuccessful response stands for: its problem details, else its status.</summary>
    private async Task<FabricException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var (code, detail) = await ReadProblemAsync(response, cancellationToken);
        if (code is not null)
        {
            return new FabricException(code, detail ?? $"the fabric's API answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }

        var status = (int)response.StatusCode;
        var said = detail is null ? "" : $": {detail}";
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => new FabricException(ErrorCodes.Unauthenticated, $"the fabric's API at {BaseUrl} refused the token{said}"),
            HttpStatusCode.Forbidden => FabricException.Forbidden($"the fabric's API at {BaseUrl} refused the request{said}"),
            HttpStatusCode.NotFound => new FabricException(ErrorCodes.NotFound, $"the fabric's API at {BaseUrl} has no {PathOnly(response.RequestMessage?.RequestUri)}{said}"),
            HttpStatusCode.Conflict => FabricException.Conflict($"the fabric's API at {BaseUrl} answered 409{said}"),
            HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity =>
                new FabricException(ErrorCodes.InvalidSpec, $"the fabric's API at {BaseUrl} refused the request ({status} {response.ReasonPhrase}){said}"),
            _ => FabricException.Unavailable($"the fabric's API at {BaseUrl} answered {status} {response.ReasonPhrase}{said}"),
        };
    }

    /// <summary>The problem details' <c>code</c> and <c>detail</c> (or <c>title</c>), when the body is one.</summary>
    private static async Task<(string? Code, string? Detail)> ReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentType?.MediaType is not { } media || !media.EndsWith("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, null);
        }

        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxProblemBytes];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
            {
                length += read;
            }

            using var problem = JsonDocument.Parse(buffer.AsMemory(0, length));
            if (problem.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }

            var code = Text(problem.RootElement, "code");
            var detail = Text(problem.RootElement, "detail") ?? Text(problem.RootElement, "title");
            return (code is { Length: > 0 } && code.All(c => c is (>= 'a' and <= 'z') or '-') ? code : null, detail is null ? null : Printable(detail));
        }
        catch (Exception ex) when (ex is JsonException or IOException or HttpRequestException)
        {
            return (null, null);
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A server's message made safe to print on a terminal: no control characters, bounded.</summary>
    private static string Printable(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, MaxDetailLength));
        foreach (var c in text.Length > MaxDetailLength ? text[..MaxDetailLength] + "…" : text)
        {
            builder.Append(char.IsControl(c) ? ' ' : c);
        }

        return builder.ToString();
    }

    // A refused certificate says why only in the inner exception ("see inner exception" helps no one at a shell).
    private FabricException Unreachable(HttpRequestException ex) => ex.HttpRequestError == HttpRequestError.SecureConnectionError
        ? FabricException.Unavailable($"cannot reach the fabric's API at {BaseUrl}: TLS failed ({ex.InnerException?.Message ?? ex.Message}); is FABRIC_CA_FILE the fabric's CA?")
        : FabricException.Unavailable($"cannot reach the fabric's API at {BaseUrl}: {ex.Message}");

    private FabricException TimedOut(HttpMethod method, string path, TimeSpan timeout) =>
        FabricException.Unavailable($"the fabric's API at {BaseUrl} did not answer {method} /{PathOnly(path)} within {timeout.TotalSeconds:0} s");

    private static string PathOnly(string path) => path.Split('?')[0];

    private static string PathOnly(Uri? uri) => uri is null ? "such route" : uri.AbsolutePath;
}
