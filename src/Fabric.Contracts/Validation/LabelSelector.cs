using System.Collections.Immutable;

namespace Fabric.Contracts;

/// <summary>An equality label selector: <c>k=v[,k=v...]</c>; a VM or host matches when it carries every pair.</summary>
[GenerateSerializer, Immutable, Alias("fabric.LabelSelector")]
public sealed record LabelSelector([property: Id(0)] ImmutableSortedDictionary<string, string> Pairs)
{
    public static readonly LabelSelector Everything = new(ImmutableSortedDictionary<string, string>.Empty);

    /// <summary>The most <c>k=v</c> terms a selector has (as many as a label set may hold).</summary>
    public const int MaxTerms = Labels.MaxCount;

    public bool IsEmpty => Pairs.Count == 0;

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        foreach (var (key, value) in Pairs)
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses <c>k=v,k2=v2</c> as typed on a command line, or throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static LabelSelector Parse(string field, string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length > MaxTerms)
        {
            throw FabricException.InvalidSpec(field, $"has {parts.Length} terms; the limit is {MaxTerms}");
        }

        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            var (key, value) = Labels.ParsePair(field, part);
            if (!pairs.TryAdd(key, value))
            {
                throw FabricException.InvalidSpec(field, $"key '{Names.Printable(key)}' appears twice");
            }
        }

        return new(Labels.Require(field, pairs));
    }

    public override string ToString() => string.Join(',', Pairs.Select(p => $"{p.Key}={p.Value}"));
}
