using System.Text.RegularExpressions;

namespace Fabric.Contracts;

/// <summary>
/// Object names (VMs, hosts, images, groups): 1–63 characters of <c>[a-z0-9-]</c>, starting and ending with a letter or digit
/// (a DNS label). Names end up in file paths, QEMU arguments and Redis keys, so nothing else is ever accepted.
/// </summary>
public static partial class Names
{
    public const int MaxLength = 63;

    public static bool IsValid(string? value) => value is not null && value.Length <= MaxLength && NamePattern().IsMatch(value);

    /// <summary>Throws <c>invalid-spec</c> naming <paramref name="field"/> unless <paramref name="value"/> is a valid name.</summary>
    public static string Require(string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw FabricException.InvalidSpec(field, "is required");
        }

        if (value.Length > MaxLength)
        {
            throw FabricException.InvalidSpec(field, $"is {value.Length} characters long; the limit is {MaxLength}");
        }

        if (!NamePattern().IsMatch(value))
        {
            throw FabricException.InvalidSpec(field, $"'{Printable(value)}' is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit");
        }

        return value;
    }

    /// <summary>Renders hostile input safely inside an error message (control characters escaped, length capped).</summary>
    public static string Printable(string value)
    {
        var shown = value.Length > 80 ? value[..80] + "…" : value;
        var builder = new System.Text.StringBuilder(shown.Length);
        foreach (var c in shown)
        {
            builder.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c);
        }

        return builder.ToString();
    }

    // \z, not $: in .NET '$' also matches before a final newline, which would let "name\n" through.
    [GeneratedRegex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
