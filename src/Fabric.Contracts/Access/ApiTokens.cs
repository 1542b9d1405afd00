using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Fabric.Contracts;

/// <summary>The API token format, <c>fabric_&lt;id&gt;_&lt;secret&gt;</c>: the id names the token, the secret proves it.</summary>
public static class ApiTokens
{
    private const string Prefix = "fabric_";
    private static readonly SearchValues<char> HexLower = SearchValues.Create("0123456789abcdef");
    private static readonly SearchValues<char> Base64Url = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    public static string Format(string id, string secret) => $"{Prefix}{id}_{secret}";

    /// <summary>Splits a token into its id (lowercase hex) and secret (base64url), or returns false.</summary>
    public static bool TryParse(string? token, out string id, out string secret)
    {
        id = secret = "";
        if (token is null || token.Length > 256 || !token.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = token.AsSpan(Prefix.Length);
        var split = rest.IndexOf('_');
        if (split <= 0 || split == rest.Length - 1 || !rest[..split].ContainsOnlyHexLower() || !rest[(split + 1)..].IsBase64Url())
        {
            return false;
        }

        id = rest[..split].ToString();
        secret = rest[(split + 1)..].ToString();
        return true;
    }

    /// <summary>The SHA-256 of a secret, lowercase hex: all the fabric keeps of it.</summary>
    public static string Sha256Hex(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static bool ContainsOnlyHexLower(this ReadOnlySpan<char> text) => !text.ContainsAnyExcept(HexLower);

    private static bool IsBase64Url(this ReadOnlySpan<char> text) => !text.ContainsAnyExcept(Base64Url);
}
