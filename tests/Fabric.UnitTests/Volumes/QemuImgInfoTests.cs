using Fabric.Hypervisor;
using Fabric.Hypervisor.Volumes;

namespace Fabric.UnitTests.Volumes;

/// <summary>The JSON below is what qemu-img 7.2 (Debian 12) prints.</summary>
public sealed class QemuImgInfoTests
{
    private const string Qcow2 = """
        {
            "virtual-size": 1073741824,
            "filename": "a.qcow2",
            "cluster-size": 65536,
            "format": "qcow2",
            "actual-size": 200704,
            "format-specific": {
                "type": "qcow2",
                "data": {
                    "compat": "1.1",
                    "compression-type": "zlib",
                    "lazy-refcounts": false,
                    "refcount-bits": 16,
                    "corrupt": false,
                    "extended-l2": false
                }
            },
            "dirty-flag": false
        }
        """;

    private const string Chain = """
        [
            {
                "backing-filename-format": "raw",
                "virtual-size": 1073741824,
                "filename": "b.qcow2",
                "cluster-size": 65536,
                "format": "qcow2",
                "actual-size": 200704,
                "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
                "full-backing-filename": "/pool/images/r.raw",
                "backing-filename": "/pool/images/r.raw",
                "dirty-flag": false
            },
            {
                "virtual-size": 3072,
                "filename": "/pool/images/r.raw",
                "format": "raw",
                "actual-size": 4096,
                "dirty-flag": false
            }
        ]
        """;

    [Fact]
    public void Parse_ReadsAnEmptyQcow2()
    {
        var info = QemuImgInfo.Parse(Qcow2);

        Assert.Equal(new QemuImgInfo("a.qcow2", "qcow2", 1073741824, 200704, null, null, null, null, false, []), info with { Snapshots = [] });
        Assert.Empty(info.Snapshots);
        Assert.Null(info.Backing);
    }

    [Fact]
    public void ParseChain_ReadsTheImageThenItsBackingFile()
    {
        var chain = QemuImgInfo.ParseChain(Chain);

        Assert.Equal(2, chain.Count);
        Assert.Equal("/pool/images/r.raw", chain[0].BackingFilename);
        Assert.Equal("/pool/images/r.raw", chain[0].FullBackingFilename);
        Assert.Equal("/pool/images/r.raw", chain[0].Backing);
        Assert.Equal("raw", chain[0].BackingFormat);
        Assert.Equal(("raw", 3072L, (long?)4096, (string?)null), (chain[1].Format, chain[1].VirtualSize, chain[1].ActualSize, chain[1].Backing));
    }

    [Fact]
    public void Parse_PrefersTheResolvedBackingFile()
    {
        var info = QemuImgInfo.Parse("""
            {"virtual-size": 1048576, "filename": "/pool/volumes/x.qcow2", "format": "qcow2",
             "backing-filename": "base.raw", "full-backing-filename": "/pool/volumes/base.raw", "dirty-flag": false}
            """);

        Assert.Equal("base.raw", info.BackingFilename);
        Assert.Equal("/pool/volumes/base.raw", info.Backing);
        Assert.Null(info.BackingFormat);
    }

    [Fact]
    public void Parse_ReadsAnExternalDataFile()
    {
        var info = QemuImgInfo.Parse("""
            {"virtual-size": 1048576, "filename": "c.qcow2", "format": "qcow2", "actual-size": 200704,
             "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "data-file": "/tmp/d.raw", "data-file-raw": false}},
             "dirty-flag": false}
            """);

        Assert.Equal("/tmp/d.raw", info.DataFile);
    }

    [Fact]
    public void Parse_ReadsEncryptionAndSnapshots()
    {
        var info = QemuImgInfo.Parse("""
            {"virtual-size": 1048576, "filename": "e.qcow2", "format": "qcow2", "encrypted": true,
             "snapshots": [{"id": "1", "name": "before", "vm-state-size": 0}, {"id": "2", "name": "after"}]}
            """);

        Assert.True(info.Encrypted);
        Assert.Equal(["before", "after"], info.Snapshots);
    }

    [Fact]
    public void Parse_ReadsAProbedVmdk()
    {
        var info = QemuImgInfo.Parse("""
            {"virtual-size": 1048576, "filename": "v.vmdk", "cluster-size": 65536, "format": "vmdk", "actual-size": 12288,
             "format-specific": {"type": "vmdk", "data": {"cid": 1809829576, "parent-cid": 4294967295, "create-type": "monolithicSparse",
             "extents": [{"virtual-size": 1048576, "filename": "v.vmdk", "cluster-size": 65536, "format": ""}]}}, "dirty-flag": false}
            """);

        Assert.Equal("vmdk", info.Format);
        Assert.Null(info.DataFile);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"format": "raw"}""")]
    [InlineData("""{"virtual-size": 512}""")]
    [InlineData("""{"format": "raw", "virtual-size": -1}""")]
    [InlineData("""{"format": "raw", "virtual-size": "512"}""")]
    [InlineData("""{"format": "raw", "virtual-size": 1e30}""")]
    public void Parse_FailsOnWhatIsNotAnImageDescription(string json)
    {
        var error = Assert.Throws<HypervisorException>(() => QemuImgInfo.Parse(json));

        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
    }

    [Fact]
    public void ParseChain_FailsOnASingleObject()
    {
        Assert.Equal(HypervisorErrorKind.Failed, Assert.Throws<HypervisorException>(() => QemuImgInfo.ParseChain(Qcow2)).Kind);
    }

    [Theory]
    [InlineData("qemu-img: /p/v/.x.qcow2.tmp: Could not write qcow2 header: No space left on device\n", HypervisorErrorKind.NoSpace)]
    [InlineData("qemu-img: error while writing at byte 0: No space left on device\n", HypervisorErrorKind.NoSpace)]
    [InlineData("qemu-img: error while writing at byte 0: Disk quota exceeded\n", HypervisorErrorKind.NoSpace)]
    [InlineData("qemu-img: Could not open 'x.qcow2': Failed to get \"write\" lock\nIs another process using the image [x.qcow2]?\n", HypervisorErrorKind.Conflict)]
    [InlineData("qemu-img: Could not open 'x': No such file or directory\n", HypervisorErrorKind.Failed)]
    [InlineData("", HypervisorErrorKind.Failed)]
    public void Failure_TellsAFullDiskAndALockedImageFromOtherFailures(string stderr, HypervisorErrorKind expected)
    {
        var error = QemuImg.Failure("create x", 1, stderr);

        Assert.Equal(expected, error.Kind);
        Assert.StartsWith("qemu-img create x", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("qemu-img: ", error.Message, StringComparison.Ordinal);
    }
}
