using Fabric.TestSupport;

namespace Fabric.UnitTests.Guests;

public sealed class MemwalkCheckTests
{
    private const int Page = MemwalkCheck.PageSize;

    [Fact]
    public void Check_AcceptsADumpTakenBetweenTwoPasses()
    {
        var result = MemwalkCheck.Check(Dump(0x2a, 0x2a, 0x2a, 0x2a));

        Assert.True(result.Ok, result.Description);
        Assert.Equal(4, result.Pages);
        Assert.Equal((byte)0x2a, result.Value);
        Assert.Null(result.EdgePage);
        Assert.Null(result.FirstBadPage);
        Assert.Contains("all 0x2a", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AcceptsOneStepDownWhereThePassIsUnderWay()
    {
        var result = MemwalkCheck.Check(Dump(0x2b, 0x2b, 0x2b, 0x2a, 0x2a));

        Assert.True(result.Ok, result.Description);
        Assert.Equal((byte)0x2b, result.Value);
        Assert.Equal(3, result.EdgePage);
        Assert.Null(result.FirstBadPage);
    }

    [Fact]
    public void Check_AcceptsTheWrapFrom0xffTo0x00AsOneAhead()
    {
        var result = MemwalkCheck.Check(Dump(0x00, 0x00, 0xff, 0xff));

        Assert.True(result.Ok, result.Description);
        Assert.Equal((byte)0x00, result.Value);
        Assert.Equal(2, result.EdgePage);
    }

    [Fact]
    public void Check_AcceptsAFirstPassPartlyDoneOverZeroedMemory()
    {
        var result = MemwalkCheck.Check(Dump(1, 1, 0, 0, 0));

        Assert.True(result.Ok, result.Description);
        Assert.Equal(2, result.EdgePage);
    }

    [Fact]
    public void Check_LooksOnlyAtTheFirstByteOfEachPage()
    {
        var dump = Dump(7, 7, 6);
        dump[1] = 0x99;
        dump[Page + Page - 1] = 0x42;

        Assert.True(MemwalkCheck.Check(dump).Ok);
    }

    [Fact]
    public void Check_RefusesASecondStepDown()
    {
        var result = MemwalkCheck.Check(Dump(9, 9, 8, 8, 7, 7));

        Assert.False(result.Ok);
        Assert.Equal(2, result.EdgePage);
        Assert.Equal(4, result.FirstBadPage);
        Assert.Equal((byte)7, result.BadValue);
        Assert.Equal((byte)8, result.ExpectedValue);
        Assert.Contains("second step down", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_RefusesAPageTwoBehind()
    {
        var result = MemwalkCheck.Check(Dump(9, 9, 7, 7));

        Assert.False(result.Ok);
        Assert.Null(result.EdgePage);
        Assert.Equal(2, result.FirstBadPage);
        Assert.Equal((byte)7, result.BadValue);
        Assert.Equal((byte)9, result.ExpectedValue);
        Assert.Contains("page 2 (offset 0x2000) holds 0x07 after 0x09", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_RefusesAPageAhead()
    {
        var result = MemwalkCheck.Check(Dump(9, 9, 10, 10));

        Assert.False(result.Ok);
        Assert.Equal(2, result.FirstBadPage);
    }

    [Fact]
    public void Check_RefusesACorruptPageInTheMiddle()
    {
        var dump = Dump(Enumerable.Repeat((byte)0x40, 64).Concat(Enumerable.Repeat((byte)0x3f, 64)).ToArray());
        dump[100 * Page] ^= 0x10;

        var result = MemwalkCheck.Check(dump);

        Assert.False(result.Ok);
        Assert.Equal(64, result.EdgePage);
        Assert.Equal(100, result.FirstBadPage);
        Assert.Equal((byte)0x2f, result.BadValue);
        Assert.Equal((byte)0x3f, result.ExpectedValue);
    }

    [Fact]
    public void Check_RefusesACorruptPageThatLooksLikeALateStepDown()
    {
        // One page one behind, then the run resumes: a step down followed by a step up.
        var result = MemwalkCheck.Check(Dump(5, 5, 4, 5, 5));

        Assert.False(result.Ok);
        Assert.Equal(2, result.EdgePage);
        Assert.Equal(3, result.FirstBadPage);
    }

    [Fact]
    public void Check_RefusesAnEmptyDump()
    {
        var result = MemwalkCheck.Check([]);

        Assert.False(result.Ok);
        Assert.Equal(0, result.Pages);
        Assert.Null(result.Value);
        Assert.Contains("empty", result.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Page - 1)]
    [InlineData(3 * Page + 17)]
    public void Check_RefusesADumpOfPartPages(int length)
    {
        var result = MemwalkCheck.Check(new byte[length]);

        Assert.False(result.Ok);
        Assert.Equal(length / Page, result.Pages);
        Assert.Contains("not a whole number of 4 KiB pages", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_RefusesADumpShorterThanTheWalkedRange()
    {
        var result = MemwalkCheck.Check(Dump(3, 3), expectedLength: 4 * Page);

        Assert.False(result.Ok);
        Assert.Contains($"the dump is {2 * Page} bytes where the walked range is {4 * Page}", result.Description, StringComparison.Ordinal);
        Assert.True(MemwalkCheck.Check(Dump(3, 3, 3, 2), expectedLength: 4 * Page).Ok);
    }

    [Fact]
    public void Check_AcceptsASinglePage()
    {
        var result = MemwalkCheck.Check(Dump(0xff));

        Assert.True(result.Ok, result.Description);
        Assert.Equal(1, result.Pages);
        Assert.Null(result.EdgePage);
    }

    [Fact]
    public void CheckFile_ReadsTheDumpFromDisk()
    {
        using var directory = new TempDirectory();
        var path = directory.Combine("memory.dump");
        File.WriteAllBytes(path, Dump(2, 1, 1));

        var result = MemwalkCheck.CheckFile(path, 3 * Page);

        Assert.True(result.Ok, result.Description);
        Assert.Equal(1, result.EdgePage);
    }

    /// <summary>A dump with these values at offset 0 of its pages and other bytes all different from them.</summary>
    private static byte[] Dump(params byte[] pages)
    {
        var dump = new byte[pages.Length * Page];
        Array.Fill(dump, (byte)0xa5);
        for (var page = 0; page < pages.Length; page++)
        {
            dump[page * Page] = pages[page];
        }

        return dump;
    }
}
