using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

public sealed class SizesTests
{
    [Theory]
    [InlineData("256Mi", 256)]
    [InlineData("2Gi", 2048)]
    [InlineData("512M", 512)]
    [InlineData("1G", 1024)]
    [InlineData("128", 128)]
    [InlineData(" 64Mi ", 64)]
    [InlineData("1Mi", 1)]
    [InlineData("2097151Gi", 2097151 * 1024)]
    [InlineData("2147483647", int.MaxValue)]
    public void ParseMiB_AcceptsOperatorSizes(string text, int mib)
    {
        Assert.Equal(mib, Sizes.ParseMiB("memory", text));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0Gi")]
    [InlineData("-5")]
    [InlineData("-5Mi")]
    [InlineData("+5")]
    [InlineData("abc")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("Gi")]
    [InlineData("Mi")]
    [InlineData("1.5Gi")]
    [InlineData("1,024")]
    [InlineData("256mi")]
    [InlineData("256 Mi")]
    [InlineData("256Ki")]
    [InlineData("256MiB")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData("２５６")] // fullwidth digits
    [InlineData("256\nMi")]
    public void ParseMiB_RejectsNonSizes(string text)
    {
        var error = InvalidSpec.Expect("memory", () => Sizes.ParseMiB("memory", text));

        Assert.Contains("is not a size", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("99999999999Gi")]
    [InlineData("2147483648")]
    [InlineData("2097152Gi")]
    [InlineData("9223372036854775807Gi")]
    [InlineData("18014398509481985Gi")] // 2^54 + 1: multiplied by 1024 it wraps a 64-bit integer round to 1024
    [InlineData("9007199254740992G")] // 2^53: multiplied by 1024 it wraps to long.MinValue
    public void ParseMiB_RejectsSizesTooLarge(string text)
    {
        var error = InvalidSpec.Expect("memory", () => Sizes.ParseMiB("memory", text));

        Assert.Contains("too large", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseMiB_RejectsNumbersBeyondAnyInteger()
    {
        InvalidSpec.Expect("memory", () => Sizes.ParseMiB("memory", "99999999999999999999999Mi"));
    }

    [Fact]
    public void ParseMiB_NamesTheGivenField()
    {
        InvalidSpec.Expect("disk.size", () => Sizes.ParseMiB("disk.size", "lots"));
    }

    [Theory]
    [InlineData(256, "256Mi")]
    [InlineData(1024, "1Gi")]
    [InlineData(2048, "2Gi")]
    [InlineData(1536, "1536Mi")]
    [InlineData(1024 * 1024, "1024Gi")]
    [InlineData(16, "16Mi")]
    public void FormatMiB_PrefersWholeGi(long mib, string text)
    {
        Assert.Equal(text, Sizes.FormatMiB(mib));
        Assert.Equal(mib, Sizes.ParseMiB("memory", text));
    }
}
