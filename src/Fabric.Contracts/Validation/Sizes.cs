using System.Globalization;

namespace Fabric.Contracts;

/// <summary>Memory sizes as operators type them (<c>256Mi</c>, <c>2Gi</c>, <c>512M</c>, a bare number is MiB).</summary>
public static class Sizes
{
    public static int ParseMiB(string field, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var (digits, multiplier) = trimmed switch
        {
            _ when trimmed.EndsWith("Gi", StringComparison.Ordinal) => (trimmed[..^2], 1024L),
            _ when trimmed.EndsWith("Mi", StringComparison.Ordinal) => (trimmed[..^2], 1L),
            _ when trimmed.EndsWith('G') => (trimmed[..^1], 1024L),
            _ when trimmed.EndsWith('M') => (trimmed[..^1], 1L),
            _ => (trimmed, 1L),
        };

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a size: use a positive number with Mi or Gi (e.g. 256Mi, 2Gi)");
        }

        // Compare before multiplying: a 64-bit product can wrap round to a small positive size.
        if (value > int.MaxValue / multiplier)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is too large");
        }

        return (int)(value * multiplier);
    }

    /// <summary>
    /// A byte size as operators type it for disks: a number with <c>Ki</c>, <c>Mi</c>, <c>Gi</c> or <c>Ti</c> (or
    /// <c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>, also powers of 1024), or a bare number of bytes.
    /// </summary>
    public static long ParseBytes(string field, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var units = new (string Suffix, int Shift)[] { ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10), ("T", 40), ("G", 30), ("M", 20), ("K", 10) };
        var (digits, shift) = (trimmed, 0);
        foreach (var (suffix, unitShift) in units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.Ordinal))
            {
                (digits, shift) = (trimmed[..^suffix.Length], unitShift);
                break;
            }
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a size: use a positive number with Ki, Mi, Gi or Ti (e.g. 512Mi, 2Gi)");
        }

        if (value > long.MaxValue >> shift)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is too large");
        }

        return value << shift;
    }

    public static string FormatMiB(long mib) =>
        mib >= 1024 && mib % 1024 == 0 ? $"{mib / 1024}Gi" : $"{mib}Mi";

    /// <summary>A byte count for people: 512 B, 3.2 KiB, 41.0 MiB, 1.50 GiB.</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        < 1024L * 1024 * 1024 => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
        _ => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB"),
    };
}
