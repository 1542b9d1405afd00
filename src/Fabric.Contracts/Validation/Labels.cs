using System.Collections.Immutable;
using System.Text.RegularExpressions;

namespace Fabric.Contracts;

/// <summary>Labels on VMs and hosts: bounded in number and size, keys and values from a small safe alphabet.</summary>
public static partial class Labels
{
    public const int MaxCount = 32;
    public const int MaxLength = 63;

    public static ImmutableSortedDictionary<string, string> Require(string field, IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null || labels.Count == 0)
        {
            return ImmutableSortedDictionary<string, string>.Empty;
        }

        if (labels.Count > MaxCount)
        {
            throw FabricException.InvalidSpec(field, $"has {labels.Count} labels; the limit is {MaxCount}");
        }

        foreach (var (key, value) in labels)
        {
            if (string.IsNullOrEmpty(key) || key.Length > MaxLength || !KeyPattern().IsMatch(key))
            {
                throw FabricException.InvalidSpec($"{field}", $"key '{Names.Printable(key ?? "")}' is not valid: 1–{MaxLength} of [A-Za-z0-9._-], starting and ending with a letter or digit");
            }

            if (value is null || value.Length > MaxLength || (value.Length > 0 && !KeyPattern().IsMatch(value)))
            {
                throw FabricException.InvalidSpec($"{field}.{key}", $"value '{Names.Printable(value ?? "")}' is not valid: up to {MaxLength} of [A-Za-z0-9._-], starting and ending with a letter or digit");
            }
        }

        return labels.ToImmutableSortedDictionary(StringComparer.Ordinal);
    }

    /// <summary>Parses <c>k=v</c> (as typed on a command line) into a pair, or throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static KeyValuePair<string, string> ParsePair(string field, string text)
    {
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not of the form key=value");
        }

        return new(text[..eq], text[(eq + 1)..]);
    }

    // \z, not $: in .NET '$' also matches before a final newline, which would let "name\n" through.
    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex KeyPattern();
}
