using System.Buffers.Text;
using System.Security.Cryptography;
using Fabric.Contracts;

namespace Fabric.Grains.Access;

/// <summary>
/// What the token directory makes and accepts, in the format of <see cref="ApiTokens"/> as <c>./fabric</c> makes it too:
/// an id of <see cref="IdLength"/> lowercase hex digits, a secret of 32 random bytes in base64url without padding, and the
/// secret's SHA-256 as 64 lowercase hex digits.
/// </summary>
internal static class TokenSecrets
{
    public const int IdLength = 12;
    public const int Sha256HexLength = 64;
    private const int SecretBytes = 32;

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));

    public static string NewSecret() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes));

    public static bool IsId(string? value) => value is { Length: IdLength } && value.All(IsLowerHex);

    public static bool IsSha256Hex(string? value) => value is { Length: Sha256HexLength } && value.All(IsLowerHex);

    private static bool IsLowerHex(char c) => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f';
}
