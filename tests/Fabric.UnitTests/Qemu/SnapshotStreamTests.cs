using System.Buffers.Binary;
using System.Text;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

/// <summary>How the driver knows a snapshot's file (the stream QEMU sent over its socket) is whole.</summary>
public sealed class SnapshotStreamTests
{
    private static readonly byte[] Header = [(byte)'Q', (byte)'E', (byte)'V', (byte)'M', 0, 0, 0, 3];

    /// <summary>A stream as QEMU 7.2 ends it: sections, EOF (0x00), then 0x06, a big-endian length and the JSON.</summary>
    private static byte[] Stream(string description = """{"page_size": 4096, "devices": []}""", int body = 10_000)
    {
        var json = Encoding.UTF8.GetBytes(description);
        var bytes = new List<byte>(Header);
        bytes.AddRange(Enumerable.Range(0, body).Select(i => (byte)(i * 7)));
        bytes.Add(0x00);
        bytes.Add(0x06);
        var length = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)json.Length);
        bytes.AddRange(length);
        bytes.AddRange(json);
        return [.. bytes];
    }

    [Fact]
    public void AWholeStream_EndsWithItsTrailer()
    {
        Assert.True(MigrationStreamFile.EndsWithTrailer(Stream()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(40)]
    [InlineData(5000)]
    public void AStreamCutShort_LacksItsTrailer(int missing)
    {
        var stream = Stream();
        Assert.False(MigrationStreamFile.EndsWithTrailer(stream.AsSpan(0, stream.Length - missing)));
    }

    [Fact]
    public void ALengthThatDoesNotReachTheEnd_IsNoTrailer()
    {
        var stream = Stream();
        Assert.False(MigrationStreamFile.EndsWithTrailer([.. stream, (byte)'}']));
        Assert.False(MigrationStreamFile.EndsWithTrailer([]));
    }

    [Fact]
    public void AFile_IsCompleteOnlyWithItsHeaderAndTrailer()
    {
        using var directory = new TempDirectory();
        var whole = Path.Combine(directory.Path, "whole.state");
        File.WriteAllBytes(whole, Stream());
        Assert.True(MigrationStreamFile.HasHeader(whole));
        Assert.True(MigrationStreamFile.IsComplete(whole));

        var cut = Path.Combine(directory.Path, "cut.state");
        File.WriteAllBytes(cut, Stream()[..^3]);
        Assert.True(MigrationStreamFile.HasHeader(cut));
        Assert.False(MigrationStreamFile.IsComplete(cut));

        var other = Path.Combine(directory.Path, "other.state");
        var notQemu = Stream();
        notQemu[0] = (byte)'X';
        File.WriteAllBytes(other, notQemu);
        Assert.False(MigrationStreamFile.HasHeader(other));
        Assert.False(MigrationStreamFile.IsComplete(other));
    }
}
