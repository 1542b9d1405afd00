using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// How to reach a fabric's HTTP API: its base URL, a bearer token, and the CA bundle its HTTPS certificate must chain
/// to. Never prints the token (not even in <see cref="ToString"/>).
/// </summary>
public sealed record FabricApiConnection
{
    /// <summary>The longest a token may be.</summary>
    public const int MaxTokenLength = 4096;

    /// <summary>The environment variable naming the API's base URL.</summary>
    public const string ApiVariable = "FABRIC_API";

    /// <summary>The environment variable holding the token itself.</summary>
    public const string TokenVariable = "FABRIC_TOKEN";

    /// <summary>The environment variable naming a file that holds the token.</summary>
    public const string TokenFileVariable = "FABRIC_TOKEN_FILE";

    /// <summary>The environment variable naming the fabric's CA bundle (PEM), which the API's certificate must chain to.</summary>
    public const string CaFileVariable = "FABRIC_CA_FILE";

    /// <summary>What every command says when nothing tells it where the fabric is.</summary>
    public const string NotConfigured = "no API configured: set FABRIC_API and FABRIC_TOKEN, or run fabricctl login";

    private FabricApiConnection(Uri baseUrl, string token)
    {
        BaseUrl = baseUrl;
        Token = token;
    }

    /// <summary>The API's base URL, ending in <c>/</c> (routes such as <c>v1/hosts</c> are relative to it).</summary>
    public Uri BaseUrl { get; }

    /// <summary>The bearer token (<c>fabric_&lt;id&gt;_&lt;secret&gt;</c>).</summary>
    public string Token { get; }

    /// <summary>
    /// The fabric's CA bundle (PEM): the API's certificate must chain to one of its CAs and name the address dialled; the
    /// system's CAs are not consulted. Null trusts the system's CAs (an API behind a publicly trusted certificate).
    /// </summary>
    public string? CaFile { get; init; }

    /// <summary>How long opening a connection to the API may take before a call fails with <c>unavailable</c>.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an ordinary call may take before it fails with <c>unavailable</c> (long polls add their wait).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// A connection to <paramref name="url"/> with <paramref name="token"/>, or <c>invalid-spec</c> naming
    /// <paramref name="urlField"/> or <paramref name="tokenField"/> (where each came from: <c>FABRIC_API</c>, <c>api</c>…).
    /// </summary>
    public static FabricApiConnection Create(string url, string token, string urlField, string tokenField) =>
        new(ParseUrl(urlField, url), RequireToken(tokenField, token));

    /// <summary>A connection to <paramref name="url"/> with <paramref name="token"/>, or <c>invalid-spec</c>.</summary>
    public static FabricApiConnection Create(string url, string token) => Create(url, token, "api", "token");

    /// <summary>
    /// The connection the process environment describes: <c>FABRIC_API</c> with <c>FABRIC_TOKEN</c> (or
    /// <c>FABRIC_TOKEN_FILE</c>) and <c>FABRIC_CA_FILE</c>, else the file <c>fabricctl login</c> wrote
    /// (<see cref="FabricApiConfigFile"/>), whose CA file <c>FABRIC_CA_FILE</c> may override.
    /// </summary>
    public static FabricApiConnection FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>As <see cref="FromEnvironment()"/>, reading variables through <paramref name="variables"/>.</summary>
    public static FabricApiConnection FromEnvironment(Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var api = NonEmpty(variables(ApiVariable));
        var token = EnvironmentToken(variables);
        var caFile = NonEmpty(variables(CaFileVariable));
        if (api is not null)
        {
            // A token from the config file is only ever sent to the API it was saved with.
            return token is null
                ? throw FabricException.InvalidSpec(TokenVariable, $"is required with {ApiVariable} (or {TokenFileVariable}, a file holding the token)")
                : new(ParseUrl(ApiVariable, api), token) { CaFile = caFile };
        }

        var path = FabricApiConfigFile.PathFor(variables);
        var config = path is null ? null : FabricApiConfigFile.Read(path);
        if (config is null)
        {
            throw FabricException.Unavailable(NotConfigured);
        }

        return new(ParseUrl($"{path}: api", config.Api), token ?? config.ReadToken()) { CaFile = caFile ?? config.CaFile };
    }

    /// <summary>Reads a token file (its content, trimmed), or <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static string ReadTokenFile(string field, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxTokenLength + 2)
            {
                throw FabricException.InvalidSpec(field, $"'{Names.Printable(path)}' is {info.Length} bytes; a token file holds one token of at most {MaxTokenLength}");
            }

            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw FabricException.InvalidSpec(field, $"cannot read '{Names.Printable(path)}': {ex.Message}");
        }

        return RequireToken($"{field} '{Names.Printable(path)}'", text);
    }

    /// <summary>Hides the token: a connection may end up in logs and error messages.</summary>
    public override string ToString() => $"{BaseUrl} (token {TokenId(Token)})";

    /// <summary>A token's id part (<c>fabric_&lt;id&gt;_…</c>), safe to show; <c>…</c> for a token of another shape.</summary>
    public static string TokenId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var parts = token.Split('_');
        return parts.Length == 3 && parts[0] == "fabric" ? $"fabric_{parts[1]}_…" : "…";
    }

    internal static string RequireToken(string field, string? token)
    {
        var trimmed = token?.Trim() ?? "";
        if (trimmed.Length == 0)
        {
            throw FabricException.InvalidSpec(field, "is empty");
        }

        if (trimmed.Length > MaxTokenLength)
        {
            throw FabricException.InvalidSpec(field, $"is {trimmed.Length} characters long; a token is at most {MaxTokenLength}");
        }

        // A token goes into an HTTP header: visible ASCII only (a newline would smuggle another header).
        if (trimmed.Any(c => c is < '!' or > '~'))
        {
            throw FabricException.InvalidSpec(field, "holds characters a token never has (spaces, control characters or non-ASCII)");
        }

        return trimmed;
    }

    internal static Uri ParseUrl(string field, string? text)
    {
        if (!Uri.TryCreate(text?.Trim(), UriKind.Absolute, out var url)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            || url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text ?? "")}' is not an http:// or https:// base URL (such as https://127.0.0.1:8080)");
        }

        return url.AbsolutePath.EndsWith('/') ? url : new Uri(url.GetLeftPart(UriPartial.Path) + "/");
    }

    private static string? EnvironmentToken(Func<string, string?> variables) =>
        NonEmpty(variables(TokenVariable)) is { } token ? RequireToken(TokenVariable, token)
        : NonEmpty(variables(TokenFileVariable)) is { } file ? ReadTokenFile(TokenFileVariable, file)
        : null;

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
