namespace Fabric.Hypervisor.Qemu;

/// <summary>Which of a VM's two console files holds a byte.</summary>
internal enum ConsoleLogFile
{
    /// <summary><c>console.log</c>, which QEMU appends to.</summary>
    Current,

    /// <summary><c>console.log.1</c>, the output rotated out of <c>console.log</c> last time.</summary>
    Rotated,
}

/// <summary>
/// Where a VM's console output is on disk at one moment, in logical offsets: a logical offset counts every byte the
/// process wrote to its console since it started, so it keeps growing across rotations. <c>console.log.1</c> holds
/// [<see cref="Oldest"/>, <see cref="Start"/>) and <c>console.log</c> holds [<see cref="Start"/>, <see cref="End"/>).
/// </summary>
/// <param name="Start">The logical offset of the first byte of <c>console.log</c> (the bytes rotated out of it so far).</param>
/// <param name="RotatedLength">The length of <c>console.log.1</c> (0 when there is none).</param>
/// <param name="CurrentLength">The length of <c>console.log</c>.</param>
internal readonly record struct ConsoleLogExtent(long Start, long RotatedLength, long CurrentLength)
{
    /// <summary>The oldest byte still kept; the bytes before it were rotated away.</summary>
    public long Oldest => Start - RotatedLength;

    /// <summary>Where the next byte the guest writes will be.</summary>
    public long End => Start + CurrentLength;

    /// <summary>
    /// What a read of at most <paramref name="maxBytes"/> from <paramref name="offset"/> returns. A read never spans
    /// the two files: one that starts in <c>console.log.1</c> stops at its end, and the next goes on in
    /// <c>console.log</c>. An offset before <see cref="Oldest"/> was rotated away and one after <see cref="End"/>
    /// belongs to an earlier process's log: both read from <see cref="Oldest"/>, so the returned offset differs from
    /// the requested one (greater: bytes were skipped; smaller: a new log started).
    /// </summary>
    public ConsoleLogSlice Locate(long offset, int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        var from = offset < Oldest || offset > End ? Oldest : offset;
        return from < Start
            ? new ConsoleLogSlice(ConsoleLogFile.Rotated, from - Oldest, (int)Math.Min(maxBytes, Start - from), from)
            : new ConsoleLogSlice(ConsoleLogFile.Current, from - Start, (int)Math.Min(maxBytes, End - from), from);
    }
}

/// <summary>A read's bytes: <paramref name="Count"/> bytes at <paramref name="Position"/> of one file, which are logical offset <paramref name="Offset"/> on.</summary>
internal readonly record struct ConsoleLogSlice(ConsoleLogFile File, long Position, int Count, long Offset)
{
    public long NextOffset => Offset + Count;
}
