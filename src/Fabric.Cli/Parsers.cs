using System.Collections.Immutable;
using System.CommandLine.Parsing;
using System.Globalization;
using Fabric.Contracts;

namespace Fabric.Cli;

/// <summary>
/// Option value parsers. They reuse the contracts' own parsing (sizes, labels, selectors, names) and report a bad value as a
/// parse error (exit 2) whose message names the field, instead of System.CommandLine's type-name messages.
/// </summary>
internal static class Parsers
{
    /// <summary>Runs <paramref name="parse"/> on the option's single token, turning <c>invalid-spec</c> into a parse error.</summary>
    public static T? Parse<T>(ArgumentResult result, Func<string, T> parse)
    {
        ArgumentNullException.ThrowIfNull(result);
        try
        {
            return parse(result.Tokens.Count > 0 ? result.Tokens[^1].Value : "");
        }
        catch (FabricException ex)
        {
            result.AddError(ex.Message);
            return default;
        }
    }

    /// <summary>Runs <paramref name="parse"/> on every token of a repeatable option.</summary>
    public static T? ParseAll<T>(ArgumentResult result, Func<IReadOnlyList<string>, T> parse)
    {
        ArgumentNullException.ThrowIfNull(result);
        try
        {
            return parse([.. result.Tokens.Select(t => t.Value)]);
        }
        catch (FabricException ex)
        {
            result.AddError(ex.Message);
            return default;
        }
    }

    public static int PositiveInt(string field, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a positive whole number");

    public static int Port(string field, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is > 0 and < 65536
            ? value
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a TCP port");

    public static TimeSpan Seconds(string field, string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 86_400
            ? TimeSpan.FromSeconds(value)
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a number of seconds (0–86400)");

    public static string Name(string field, string text) => Names.Require(field, text);

    /// <summary>The word that lifts a quota's limit.</summary>
    public const string Unlimited = "unlimited";

    /// <summary>
    /// A length of time as typed after <c>--expires</c> or <c>--since</c>: a whole number with <c>s</c>, <c>m</c>,
    /// <c>h</c>, <c>d</c> or <c>w</c> (<c>30m</c>, <c>12h</c>, <c>7d</c>), at most ten years.
    /// </summary>
    public static TimeSpan Duration(string field, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var unit = trimmed.Length > 1 ? trimmed[^1] : ' ';
        var scale = unit switch
        {
            's' => TimeSpan.FromSeconds(1),
            'm' => TimeSpan.FromMinutes(1),
            'h' => TimeSpan.FromHours(1),
            'd' => TimeSpan.FromDays(1),
            'w' => TimeSpan.FromDays(7),
            _ => TimeSpan.Zero,
        };
        return scale > TimeSpan.Zero
            && long.TryParse(trimmed[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            && count > 0 && count <= MaxDuration.Ticks / scale.Ticks
            ? scale * count
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a duration: a positive whole number with s, m, h, d or w (e.g. 30m, 12h, 7d), at most 10 years");
    }

    /// <summary>
    /// A moment as typed after <c>--since</c>: an ISO 8601 time (<c>2026-11-30T12:00:00Z</c>; without an offset, UTC), or a
    /// <see cref="Duration"/> before <paramref name="now"/> (<c>1h</c>: an hour ago).
    /// </summary>
    public static DateTimeOffset Since(string field, string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            && text.Trim().Length >= 10 && char.IsAsciiDigit(text.Trim()[0]))
        {
            return at;
        }

        try
        {
            return now - Duration(field, text);
        }
        catch (FabricException)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is neither an ISO 8601 time (2026-11-30T12:00:00Z) nor a duration ago (30m, 12h, 7d)");
        }
    }

    /// <summary>A quota limit: a whole number (0 allows none), or <c>unlimited</c> (returned as -1).</summary>
    public static long Limit(string field, string text) =>
        string.Equals(text.Trim(), Unlimited, StringComparison.OrdinalIgnoreCase) ? -1
        : long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= int.MaxValue ? value
        : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is neither a whole number nor '{Unlimited}'");

    /// <summary>A memory quota: a size (<c>64Gi</c>) in MiB, or <c>unlimited</c> (returned as -1).</summary>
    public static long MemoryLimit(string field, string text) =>
        string.Equals(text.Trim(), Unlimited, StringComparison.OrdinalIgnoreCase) ? -1 : Sizes.ParseMiB(field, text);

    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(3653);

    /// <summary>A rate such as <c>100Mi/s</c> (or <c>100Mi</c>), in bytes per second.</summary>
    public static long BytesPerSecond(string field, string text)
    {
        var size = text.EndsWith("/s", StringComparison.Ordinal) ? text[..^2] : text;
        return Sizes.ParseMiB(field, size) * (1L << 20);
    }

    public static PlacementPolicy Policy(string field, string text) => text.ToLowerInvariant() switch
    {
        "pack" => PlacementPolicy.Pack,
        "spread" => PlacementPolicy.Spread,
        "default" => PlacementPolicy.Default,
        _ => throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not pack or spread"),
    };

    /// <summary>Repeated <c>k=v</c> pairs (one per occurrence, or comma-separated) as validated labels.</summary>
    public static ImmutableSortedDictionary<string, string> LabelPairs(string field, IReadOnlyList<string> tokens)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in tokens.SelectMany(t => t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var (key, value) = Labels.ParsePair(field, part);
            if (!pairs.TryAdd(key, value))
            {
                throw FabricException.InvalidSpec(field, $"key '{Names.Printable(key)}' appears twice");
            }
        }

        return Labels.Require(field, pairs);
    }

    /// <summary>A non-empty selector: bulk operations never act on every VM by accident.</summary>
    public static LabelSelector Selector(string field, string text)
    {
        var selector = LabelSelector.Parse(field, text);
        return selector.IsEmpty ? throw FabricException.InvalidSpec(field, "is empty; give at least one k=v") : selector;
    }
}
