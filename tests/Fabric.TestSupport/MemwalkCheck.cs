namespace Fabric.TestSupport;

/// <summary>
/// Checks a dump of the range the <c>memwalk</c> guest walks (docs/guests.md): on each pass the guest increments the
/// byte at offset 0 of every 4 KiB page, in ascending order, so those bytes read v+1 for a prefix of the pages and v
/// for the rest. Each page therefore equals the page before it or is exactly one behind it (mod 256: 0xff after 0x00),
/// and the step down happens at one page at most (none in a dump taken between two passes). A page that breaks this
/// lost a write or was corrupted, for example by a migration that missed a dirty page. The dump is what QMP
/// <c>pmemsave base size file</c> writes: the range's bytes, starting at its base.
/// </summary>
public static class MemwalkCheck
{
    public const int PageSize = 4096;

    /// <summary>Checks a dump that should be <paramref name="expectedLength"/> bytes long (the range's size).</summary>
    public static MemwalkResult Check(ReadOnlySpan<byte> dump, long expectedLength) =>
        dump.Length == expectedLength
            ? Check(dump)
            : Refused(dump.Length / PageSize, $"the dump is {dump.Length} bytes where the walked range is {expectedLength}");

    /// <summary>Checks the page invariant over the whole dump: a bad dump is described, never thrown.</summary>
    public static MemwalkResult Check(ReadOnlySpan<byte> dump)
    {
        if (dump.IsEmpty)
        {
            return Refused(0, "the dump is empty");
        }

        if (dump.Length % PageSize != 0)
        {
            return Refused(dump.Length / PageSize, $"the dump is {dump.Length} bytes, not a whole number of 4 KiB pages");
        }

        var pages = dump.Length / PageSize;
        var value = dump[0];
        var previous = value;
        int? edge = null;
        for (var page = 1; page < pages; page++)
        {
            var current = dump[page * PageSize];
            if (current == previous)
            {
                continue;
            }

            var behind = unchecked((byte)(previous - 1));
            if (edge is null && current == behind)
            {
                edge = page;
                previous = current;
                continue;
            }

            var at = $"page {page} (offset 0x{(long)page * PageSize:x}) holds 0x{current:x2} after 0x{previous:x2}";
            var why = edge is null
                ? $"{at}: a page must equal the one before it or be exactly one behind (0x{behind:x2})"
                : current == behind
                    ? $"{at}: a second step down; only one is allowed, and it came at page {edge}"
                    : $"{at}: every page after the step down at page {edge} must hold 0x{previous:x2}";
            return new MemwalkResult(false, pages, value, edge, page, current, previous, why);
        }

        var description = edge is { } e
            ? $"{pages} pages: 0x{value:x2} up to page {e - 1}, 0x{previous:x2} from page {e} (a pass under way)"
            : $"{pages} pages, all 0x{value:x2} (a dump between two passes)";
        return new MemwalkResult(true, pages, value, edge, null, null, null, description);
    }

    /// <summary>Checks the dump file at <paramref name="path"/> (what <c>IGuestMemory.DumpAsync</c> wrote).</summary>
    public static MemwalkResult CheckFile(string path, long expectedLength) => Check(File.ReadAllBytes(path), expectedLength);

    private static MemwalkResult Refused(int pages, string description) => new(false, pages, null, null, null, null, null, description);
}

/// <summary>What <see cref="MemwalkCheck"/> found.</summary>
/// <param name="Ok">The dump satisfies the page invariant.</param>
/// <param name="Pages">Whole 4 KiB pages in the dump.</param>
/// <param name="Value">Byte 0 of the first page: passes begun, mod 256; null when nothing was checked.</param>
/// <param name="EdgePage">The first page one behind the page before it; null when the pages checked all agree.</param>
/// <param name="FirstBadPage">The first page that breaks the invariant; null when none does.</param>
/// <param name="BadValue">What <see cref="FirstBadPage"/> holds.</param>
/// <param name="ExpectedValue">The value of the page before it (or one less, had there been no step down yet).</param>
/// <param name="Description">A sentence for people: the values and the step down, or what is wrong and where.</param>
public sealed record MemwalkResult(bool Ok, int Pages, byte? Value, int? EdgePage, int? FirstBadPage, byte? BadValue, byte? ExpectedValue, string Description)
{
    public override string ToString() => Description;
}
