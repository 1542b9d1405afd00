using System.Collections.Immutable;
using System.Globalization;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// Bulk operations on many VMs, shared by both clients (<see cref="FabricClient"/> over Orleans, <see cref="FabricApiClient"/>
/// over HTTP): the names a bulk create makes, and running one operation per VM with bounded parallelism.
/// </summary>
public static class FabricBulk
{
    /// <summary>The most VMs one bulk operation works on at the same time.</summary>
    public const int DefaultParallelism = 32;

    /// <summary>The most VMs one bulk create makes.</summary>
    public const int MaxCount = 100_000;

    /// <summary>Throws <c>invalid-spec</c> naming <c>count</c> unless it is 1–<see cref="MaxCount"/>.</summary>
    public static int RequireCount(int count) => count is >= 1 and <= MaxCount
        ? count
        : throw FabricException.InvalidSpec("count", $"{count} is out of range 1–{MaxCount}");

    /// <summary>The names a bulk create of <paramref name="count"/> VMs with <paramref name="prefix"/> makes: <c>prefix-01</c>…</summary>
    public static IReadOnlyList<string> BulkNames(string prefix, int count)
    {
        RequireCount(count);
        var width = count.ToString(CultureInfo.InvariantCulture).Length;
        var names = Enumerable.Range(1, count).Select(i => $"{prefix}-{i.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0')}").ToList();
        foreach (var name in names)
        {
            if (!Names.IsValid(name))
            {
                throw FabricException.InvalidSpec("name", $"prefix '{Names.Printable(prefix)}' makes the invalid name '{Names.Printable(name)}' (at most {Names.MaxLength} characters of [a-z0-9-])");
            }
        }

        return names;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on every VM in <paramref name="names"/>, <see cref="DefaultParallelism"/> at a time,
    /// reporting progress; one VM's failure never stops the others.
    /// </summary>
    public static async Task<ImmutableArray<BulkResult>> RunBulkAsync(IReadOnlyList<string> names, Func<string, Task<VmInfo?>> operation, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(operation);
        var results = new BulkResult[names.Count];
        int done = 0, failed = 0;
        progress?.Report(new BulkProgress(0, 0, names.Count));
        await Parallel.ForEachAsync(
            Enumerable.Range(0, names.Count),
            new ParallelOptions { MaxDegreeOfParallelism = DefaultParallelism, CancellationToken = cancellationToken },
            async (index, _) =>
            {
                var name = names[index];
                try
                {
                    results[index] = new BulkResult(name, await operation(name), null, null);
                }
                catch (FabricException ex)
                {
                    results[index] = new BulkResult(name, null, ex.Code, ex.Message);
                    Interlocked.Increment(ref failed);
                }

                progress?.Report(new BulkProgress(Interlocked.Increment(ref done), Volatile.Read(ref failed), names.Count));
            });
        return [.. results];
    }
}
