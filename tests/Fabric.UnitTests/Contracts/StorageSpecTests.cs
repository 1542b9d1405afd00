using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

/// <summary>Pools, volumes and disks as operators type them: every bad field named, hostile paths refused.</summary>
public sealed class StorageSpecTests
{
    private static PoolSpec Pool(string path = "/srv/pools/data") => new() { Name = "data", Type = PoolType.Shared, Path = path };

    [Theory]
    [InlineData("1", 1L)]
    [InlineData("512", 512L)]
    [InlineData("4Ki", 4096L)]
    [InlineData("10Mi", 10L << 20)]
    [InlineData("2Gi", 2L << 30)]
    [InlineData("3G", 3L << 30)]
    [InlineData("1Ti", 1L << 40)]
    public void ParseBytes_TakesBinaryUnits(string text, long bytes) => Assert.Equal(bytes, Sizes.ParseBytes("size", text));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1Gi")]
    [InlineData("1.5Gi")]
    [InlineData("10Pi")]
    [InlineData("99999999999Ti")]
    public void ParseBytes_RefusesWhatIsNotASize(string text) => InvalidSpec.Expect("size", () => Sizes.ParseBytes("size", text));

    [Theory]
    [InlineData("relative/dir")]
    [InlineData("/srv/../etc")]
    [InlineData("/srv/./pools")]
    [InlineData("/srv/po,ols")]
    [InlineData("/srv/pools\n")]
    [InlineData("")]
    public void PoolPath_MustBeAbsoluteAndPlain(string path) => InvalidSpec.Expect("path", () => Pool(path).Validate());

    [Fact]
    public void PoolPath_LoosesATrailingSlash() => Assert.Equal("/srv/pools", StoragePaths.RequireAbsolute("path", "/srv/pools/"));

    [Fact]
    public void PoolSpec_NamesEachBadField()
    {
        InvalidSpec.Expect("name", () => (Pool() with { Name = "Data_1" }).Validate());
        InvalidSpec.Expect("capacity", () => (Pool() with { CapacityBytes = 0 }).Validate());
        InvalidSpec.Expect("overcommit", () => (Pool() with { Overcommit = 0.5 }).Validate());
        InvalidSpec.Expect("overcommit", () => (Pool() with { Overcommit = double.NaN }).Validate());
        InvalidSpec.Expect("quotaPerVm", () => (Pool() with { QuotaPerVmBytes = -1 }).Validate());
        InvalidSpec.Expect("type", () => (Pool() with { Type = (PoolType)7 }).Validate());
    }

    [Fact]
    public void PoolLocation_ALocalPoolHasADirectoryPerHost()
    {
        Assert.Equal("/srv/p/host-a", new PoolLocation("p", PoolType.Local, "/srv/p").RootOn("host-a"));
        Assert.Equal("/srv/p", new PoolLocation("p", PoolType.Shared, "/srv/p").RootOn("host-a"));
    }

    [Fact]
    public void VolumeSpec_NamesEachBadField()
    {
        InvalidSpec.Expect("name", () => new VolumeSpec { Name = "../x", SizeBytes = 4096 }.Validate());
        InvalidSpec.Expect("size", () => new VolumeSpec { Name = "v" }.Validate());
        InvalidSpec.Expect("size", () => new VolumeSpec { Name = "v", SizeBytes = 1000 }.Validate());
        InvalidSpec.Expect("size", () => new VolumeSpec { Name = "v", SizeBytes = VolumeSpec.MaxSizeBytes + 512 }.Validate());
        InvalidSpec.Expect("image", () => new VolumeSpec { Name = "v", SizeBytes = 4096, Image = "A/B" }.Validate());
        InvalidSpec.Expect("full", () => new VolumeSpec { Name = "v", SizeBytes = 4096, Full = true }.Validate());
        Assert.Null(new VolumeSpec { Name = "v", Image = "base" }.Validate().SizeBytes);
    }

    [Theory]
    [InlineData("data:10Gi", "data", null, 10L << 30, null)]
    [InlineData("data:1Gi:debian", "data", null, 1L << 30, "debian")]
    [InlineData("data/db-1", "data", "db-1", null, null)]
    public void DiskRequest_ParsesTheThreeForms(string text, string pool, string? volume, long? size, string? image)
    {
        var disk = DiskRequest.Parse("disk", text);

        Assert.Equal(pool, disk.Pool);
        Assert.Equal(volume, disk.Volume);
        Assert.Equal(size, disk.SizeBytes);
        Assert.Equal(image, disk.Image);
    }

    [Theory]
    [InlineData("data", "disk")]
    [InlineData("data:10Gi:img:x", "disk")]
    [InlineData("data/a/b", "disk")]
    [InlineData("../etc/passwd", "disk")]
    [InlineData("Data:1Gi", "disk.pool")]
    [InlineData("data:lots", "disk.size")]
    [InlineData("data/..", "disk.volume")]
    [InlineData("data:1Gi:../x", "disk.image")]
    public void DiskRequest_RefusesOtherShapesNamingTheField(string text, string field) => InvalidSpec.Expect(field, () => DiskRequest.Parse("disk", text));

    [Fact]
    public void VmSpec_ValidatesItsDisks()
    {
        var spec = new VmSpec { Name = "db", Image = "linux" };

        InvalidSpec.Expect("disks[0].size", () => (spec with { Disks = [new DiskRequest { Pool = "data" }] }).Validate());
        InvalidSpec.Expect("disks[1]", () => (spec with { Disks = [new DiskRequest { Pool = "data", SizeBytes = 4096 }, new DiskRequest { Pool = "data", Volume = "v", SizeBytes = 4096 }] }).Validate());
        InvalidSpec.Expect("disks", () => (spec with { Disks = [.. Enumerable.Range(0, VmDisk.MaxPerVm + 1).Select(_ => new DiskRequest { Pool = "data", SizeBytes = 4096 })] }).Validate());
        InvalidSpec.Expect("disks", () => (spec with { Disks = [new DiskRequest { Pool = "data", Volume = "v" }, new DiskRequest { Pool = "data", Volume = "v" }] }).Validate());
        Assert.Equal(2, (spec with { Disks = [new DiskRequest { Pool = "data", SizeBytes = 4096 }, new DiskRequest { Pool = "data", Volume = "v" }] }).Validate().Disks.Length);
    }
}
