using System.Text;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

/// <summary>The arithmetic of console log rotation: where a logical offset is, and where a rotation cuts.</summary>
public sealed class ConsoleLogExtentTests
{
    // console.log.1 holds logical [900, 1000), console.log [1000, 1050).
    private static readonly ConsoleLogExtent Rotated = new(Start: 1000, RotatedLength: 100, CurrentLength: 50);

    [Fact]
    public void Extent_NamesTheOldestKeptByteAndTheEnd()
    {
        Assert.Equal(900, Rotated.Oldest);
        Assert.Equal(1050, Rotated.End);
        Assert.Equal(0, new ConsoleLogExtent(0, 0, 0).End);
    }

    [Theory]
    [InlineData(0, 10, 0, 10)]
    [InlineData(5, 10, 5, 10)]
    [InlineData(45, 10, 45, 5)]
    [InlineData(50, 10, 50, 0)]
    public void Locate_WithoutRotation_IsTheFileOffset(long offset, int max, long position, int count)
    {
        var never = new ConsoleLogExtent(0, 0, 50);

        Assert.Equal(new ConsoleLogSlice(ConsoleLogFile.Current, position, count, offset), never.Locate(offset, max));
    }

    [Theory]
    [InlineData(1000, 64, false, 0, 50)]
    [InlineData(1020, 64, false, 20, 30)]
    [InlineData(1050, 64, false, 50, 0)]
    [InlineData(900, 64, true, 0, 64)]
    [InlineData(990, 64, true, 90, 10)]
    public void Locate_AfterRotation_FindsTheFileThatHoldsTheOffset(long offset, int max, bool inRotatedFile, long position, int count)
    {
        var file = inRotatedFile ? ConsoleLogFile.Rotated : ConsoleLogFile.Current;

        Assert.Equal(new ConsoleLogSlice(file, position, count, offset), Rotated.Locate(offset, max));
    }

    [Fact]
    public void Locate_ARotatedAwayOffset_ReadsFromTheOldestKeptByte()
    {
        var slice = Rotated.Locate(10, 64);

        Assert.Equal(new ConsoleLogSlice(ConsoleLogFile.Rotated, 0, 64, 900), slice);
        Assert.True(slice.Offset > 10, "the reader can tell that bytes were skipped");
    }

    [Theory]
    [InlineData(1051)]
    [InlineData(5_000_000)]
    public void Locate_AnOffsetPastTheEnd_ReadsFromTheOldestKeptByte(long offset)
    {
        // Past the end means the reader followed an earlier process's log: it hears of a new one by a smaller offset.
        var slice = Rotated.Locate(offset, 64);

        Assert.Equal(900, slice.Offset);
        Assert.True(slice.Offset < offset);
    }

    [Fact]
    public void Locate_ANegativeOffset_ReadsFromTheOldestKeptByte() =>
        Assert.Equal(900, Rotated.Locate(-1, 64).Offset);

    [Fact]
    public void Locate_FollowingNextOffset_VisitsEveryKeptByteOnceInOrder()
    {
        var offsets = new List<(long From, long To)>();
        for (var offset = 0L; ;)
        {
            var slice = Rotated.Locate(offset, 32);
            if (slice.Count == 0)
            {
                break;
            }

            offsets.Add((slice.Offset, slice.NextOffset));
            offset = slice.NextOffset;
        }

        Assert.Equal(900, offsets[0].From);
        Assert.Equal(1050, offsets[^1].To);
        Assert.All(offsets.Zip(offsets.Skip(1)), pair => Assert.Equal(pair.First.To, pair.Second.From));
        Assert.Contains((996L, 1000L), offsets); // A read stops at the end of console.log.1.
    }

    [Fact]
    public void Limit_SplitsItselfBetweenTheTwoFiles()
    {
        var limit = new ConsoleLogLimit(16 * 1024 * 1024);

        Assert.Equal(8 * 1024 * 1024, limit.RotateAt);
        Assert.Equal(8 * 1024 * 1024, limit.Keep);
        Assert.False(limit.ShouldRotate(limit.RotateAt - 1));
        Assert.True(limit.ShouldRotate(limit.RotateAt));

        var odd = new ConsoleLogLimit(ConsoleLogLimit.Minimum + 1);
        Assert.Equal(odd.Bytes, odd.RotateAt + odd.Keep);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(ConsoleLogLimit.Minimum - 1)]
    public void Limit_BelowTheMinimum_IsRefused(long bytes)
    {
        var error = Assert.Throws<HypervisorException>(() => new ConsoleLogLimit(bytes));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void KeepFrom_CutsKeepBytesBeforeTheEndAndMovesToTheNextLine()
    {
        var limit = new ConsoleLogLimit(ConsoleLogLimit.Minimum);
        var log = Lines(count: 10_000, width: 10); // "line 0000\n" …: lines start at multiples of 10.
        var length = log.Length;

        var from = limit.KeepFrom(length, Reader(log));

        var cut = length - limit.Keep;
        Assert.Equal(cut + (10 - (cut % 10)) % 10, from);
        Assert.Equal(0, from % 10);
        Assert.True(length - from <= limit.Keep);
    }

    [Fact]
    public void KeepFrom_AtALineStart_StaysThere()
    {
        var limit = new ConsoleLogLimit(ConsoleLogLimit.Minimum);
        var log = Lines(count: 10_000, width: 8); // The keep (32768) is a multiple of 8: the cut starts a line.

        Assert.Equal(log.Length - limit.Keep, limit.KeepFrom(log.Length, Reader(log)));
    }

    [Fact]
    public void KeepFrom_WithoutALineStartNearby_CutsMidLine()
    {
        var limit = new ConsoleLogLimit(ConsoleLogLimit.Minimum);
        var log = Encoding.ASCII.GetBytes(new string('x', 100_000));

        Assert.Equal(log.Length - limit.Keep, limit.KeepFrom(log.Length, Reader(log)));
    }

    [Fact]
    public void KeepFrom_AShortLog_KeepsItAll()
    {
        var limit = new ConsoleLogLimit(ConsoleLogLimit.Minimum);
        var log = Lines(count: 100, width: 10);

        Assert.Equal(0, limit.KeepFrom(log.Length, Reader(log)));
    }

    private static byte[] Lines(int count, int width) =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, count).Select(i => $"line {i:D4}".PadRight(width - 1)[..(width - 1)] + "\n")));

    private static Func<long, Span<byte>, int> Reader(byte[] log) => (position, buffer) =>
    {
        var count = (int)Math.Min(buffer.Length, log.Length - position);
        log.AsSpan((int)position, count).CopyTo(buffer);
        return count;
    };
}
