using Fabric.Hypervisor;
using Fabric.Hypervisor.Volumes;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Storage;

/// <summary>The volume store with the real qemu-img, on a pool in a private folder (and on a small tmpfs when full).</summary>
public sealed class VolumeStoreTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const long MiB = 1 << 20;
    private const long GiB = 1 << 30;

    private readonly string _directory = TestDirectories.Create();
    private readonly VolumeStore _store = new();
    private readonly ITestOutputHelper _output = output;

    private string PoolRoot => Path.Combine(_directory, "pool");

    private string Volumes => Path.Combine(PoolRoot, "volumes");

    private string Images => Path.Combine(PoolRoot, "images");

    public async Task InitializeAsync() => await _store.PreparePoolAsync(PoolRoot, CancellationToken.None);

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true); // removes symlinks themselves, never what they point to
        return Task.CompletedTask;
    }

    [Fact]
    public async Task PreparePool_MakesTheFoldersRootsAndPassableByQemuOnly_AndKnowsItsVolumesFolder()
    {
        Assert.Equal(["images", "volumes"], StorageTools.Entries(PoolRoot));
        var group = Fabric.Hypervisor.Confinement.QemuGroup.Resolve();
        foreach (var folder in new[] { PoolRoot, Volumes, Images })
        {
            Assert.Equal((0, group, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute), Fabric.Hypervisor.Confinement.Ownership.Of(folder));
        }

        Assert.True(_store.IsVolumeFolder(Volumes));
        Assert.False(_store.IsVolumeFolder(Images));
        Assert.False(_store.IsVolumeFolder("/etc"));

        var usage = await _store.PreparePoolAsync(PoolRoot, CancellationToken.None);

        Assert.Equal(0, usage.UsedBytes);
        Assert.True(usage.FilesystemBytes > 0 && usage.FilesystemFreeBytes > 0 && usage.FilesystemFreeBytes <= usage.FilesystemBytes);
    }

    [Fact]
    public async Task CreateVolume_Empty_IsThinAndGrowsByWhatIsWritten()
    {
        var created = await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", GiB), CancellationToken.None);

        Assert.Equal(new VolumeFile("data", Path.Combine(Volumes, "data.qcow2"), "qcow2", GiB, created.PhysicalBytes, null, null), created);
        Assert.InRange(created.PhysicalBytes, 1, MiB - 1);
        Assert.Equal(["data.qcow2"], StorageTools.Entries(Volumes));
        var info = await StorageTools.InfoAsync(created.Path, "qcow2");
        Assert.Equal(GiB, info.GetProperty("virtual-size").GetInt64());
        Assert.False(info.TryGetProperty("backing-filename", out _));

        await StorageTools.WriteIntoAsync(created.Path, 8 * MiB);
        var written = await _store.InspectVolumeAsync(PoolRoot, "data", CancellationToken.None);
        var usage = await _store.MeasurePoolAsync(PoolRoot, CancellationToken.None);

        Assert.NotNull(written);
        Assert.True(written.PhysicalBytes >= created.PhysicalBytes + 8 * MiB, $"{written.PhysicalBytes} bytes after writing 8 MiB into {created.PhysicalBytes}");
        Assert.Equal(GiB, written.VirtualBytes);
        Assert.Equal(written.PhysicalBytes, usage.UsedBytes);
    }

    [Fact]
    public async Task CreateVolume_LinkedClone_RecordsBackingFileAndFormat()
    {
        var image = await ImportRawAsync("base", dataBytes: 4 * MiB, sizeBytes: 64 * MiB);

        var clone = await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("web", 2 * GiB, new VolumeSource("base", "raw", Full: false)), CancellationToken.None);

        var info = await StorageTools.InfoAsync(clone.Path, "qcow2");
        Assert.Equal(image.Path, info.GetProperty("backing-filename").GetString());
        Assert.Equal("raw", info.GetProperty("backing-filename-format").GetString());
        Assert.Equal(2 * GiB, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal((image.Path, "raw", 2 * GiB), (clone.BackingFile, clone.BackingFormat, clone.VirtualBytes));
        Assert.InRange(clone.PhysicalBytes, 1, MiB - 1);
        Assert.True(await StorageTools.SameContentsAsync(image.Path, "raw", clone.Path, "qcow2"), "the clone reads as its image");
    }

    [Fact]
    public async Task CreateVolume_LinkedClone_IsAtLeastTheImageSize()
    {
        await ImportRawAsync("base", dataBytes: MiB, sizeBytes: 64 * MiB);

        var clone = await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("small", MiB, new VolumeSource("base", "raw", Full: false)), CancellationToken.None);

        Assert.Equal(64 * MiB, clone.VirtualBytes);
    }

    [Fact]
    public async Task CreateVolume_LinkedCloneOfAQcow2Image_RecordsQcow2()
    {
        var source = Path.Combine(_directory, "base.qcow2");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", source, "32M");
        await StorageTools.WriteIntoAsync(source, MiB);
        var image = await _store.ImportImageAsync(PoolRoot, "base", source, CancellationToken.None);

        var clone = await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("web", 64 * MiB, new VolumeSource("base", "qcow2", Full: false)), CancellationToken.None);

        var info = await StorageTools.InfoAsync(clone.Path, "qcow2");
        Assert.Equal(image.Path, info.GetProperty("backing-filename").GetString());
        Assert.Equal("qcow2", info.GetProperty("backing-filename-format").GetString());
        Assert.True(await StorageTools.SameContentsAsync(image.Path, "qcow2", clone.Path, "qcow2"));
    }

    [Fact]
    public async Task CreateVolume_FullCopy_HasNoBackingFileAndHoldsTheImageData()
    {
        var image = await ImportRawAsync("base", dataBytes: 4 * MiB, sizeBytes: 64 * MiB);

        var copy = await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("db", 128 * MiB, new VolumeSource("base", "raw", Full: true)), CancellationToken.None);

        var info = await StorageTools.InfoAsync(copy.Path, "qcow2");
        Assert.False(info.TryGetProperty("backing-filename", out _));
        Assert.Equal(128 * MiB, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal((null, null, 128 * MiB), (copy.BackingFile, copy.BackingFormat, copy.VirtualBytes));
        Assert.InRange(copy.PhysicalBytes, 4 * MiB, 5 * MiB);
        Assert.True(await StorageTools.SameContentsAsync(image.Path, "raw", copy.Path, "qcow2"), "the copy reads as its image");

        await _store.DeleteImageAsync(PoolRoot, "base", "raw", CancellationToken.None);
        Assert.Equal(0, (await StorageTools.TryRunAsync("qemu-img", "check", "-f", "qcow2", copy.Path)).ExitCode);
    }

    [Fact]
    public async Task CreateVolume_ExistingName_IsAConflict()
    {
        await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", MiB), CancellationToken.None);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", 2 * MiB), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Conflict, error.Kind);
        Assert.Equal(MiB, (await _store.InspectVolumeAsync(PoolRoot, "data", CancellationToken.None))!.VirtualBytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-512)]
    [InlineData(1000)]
    [InlineData((64L << 40) + 512)]
    public async Task CreateVolume_SizeNotAPositiveMultipleOf512UpTo64TiB_IsRefused(long size)
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", size), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Empty(StorageTools.Entries(Volumes));
    }

    [Fact]
    public async Task CreateVolume_FromAMissingImage_IsNotFound()
    {
        await ImportRawAsync("base", dataBytes: MiB, sizeBytes: MiB);

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("web", MiB, new VolumeSource("base", "qcow2", Full: false)), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.NotFound, error.Kind);
        Assert.Empty(StorageTools.Entries(Volumes));
    }

    [Fact]
    public async Task ResizeVolume_Grows()
    {
        await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", GiB), CancellationToken.None);

        var grown = await _store.ResizeVolumeAsync(PoolRoot, "data", 3 * GiB, CancellationToken.None);

        Assert.Equal(3 * GiB, grown.VirtualBytes);
        Assert.Equal(3 * GiB, (await StorageTools.InfoAsync(grown.Path, "qcow2")).GetProperty("virtual-size").GetInt64());
        Assert.Equal(grown, await _store.ResizeVolumeAsync(PoolRoot, "data", 3 * GiB, CancellationToken.None));
    }

    [Fact]
    public async Task ResizeVolume_Shrink_IsRefusedNamingBothSizes()
    {
        await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", GiB), CancellationToken.None);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ResizeVolumeAsync(PoolRoot, "data", GiB / 2, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"{GiB}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{GiB / 2}", error.Message, StringComparison.Ordinal);
        Assert.Equal(GiB, (await _store.InspectVolumeAsync(PoolRoot, "data", CancellationToken.None))!.VirtualBytes);
    }

    [Fact]
    public async Task ResizeVolume_Missing_IsNotFound()
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ResizeVolumeAsync(PoolRoot, "data", GiB, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.NotFound, error.Kind);
    }

    [Fact]
    public async Task DeleteVolumeAndImage_RemoveTheFilesAndAreHarmlessWhenAbsent()
    {
        await ImportRawAsync("base", dataBytes: MiB, sizeBytes: MiB);
        await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", MiB), CancellationToken.None);

        await _store.DeleteVolumeAsync(PoolRoot, "data", CancellationToken.None);
        await _store.DeleteVolumeAsync(PoolRoot, "data", CancellationToken.None);
        await _store.DeleteImageAsync(PoolRoot, "base", "raw", CancellationToken.None);
        await _store.DeleteImageAsync(PoolRoot, "base", "raw", CancellationToken.None);

        Assert.Empty(StorageTools.Entries(Volumes));
        Assert.Empty(StorageTools.Entries(Images));
        Assert.Null(await _store.InspectVolumeAsync(PoolRoot, "data", CancellationToken.None));
    }

    [Fact]
    public async Task RemovePool_WhileFilesRemain_IsAConflictListingThem()
    {
        await ImportRawAsync("base", dataBytes: MiB, sizeBytes: MiB);
        await _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", MiB), CancellationToken.None);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.RemovePoolAsync(PoolRoot, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Conflict, error.Kind);
        Assert.Contains("images/base.raw, volumes/data.qcow2", error.Message, StringComparison.Ordinal);
        Assert.Equal(["images", "volumes"], StorageTools.Entries(PoolRoot));

        await _store.DeleteVolumeAsync(PoolRoot, "data", CancellationToken.None);
        await _store.DeleteImageAsync(PoolRoot, "base", "raw", CancellationToken.None);
        await _store.RemovePoolAsync(PoolRoot, CancellationToken.None);
        await _store.RemovePoolAsync(PoolRoot, CancellationToken.None);

        Assert.False(Directory.Exists(PoolRoot));
    }

    [Fact]
    public async Task ImportImage_Raw_IsCopiedSparse()
    {
        var source = StorageTools.RawFile(Path.Combine(_directory, "disk.img"), 2 * MiB, 256 * MiB);

        var image = await _store.ImportImageAsync(PoolRoot, "disk", source, CancellationToken.None);

        Assert.Equal(new ImageFile("disk", Path.Combine(Images, "disk.raw"), "raw", 256 * MiB, image.PhysicalBytes), image);
        Assert.InRange(image.PhysicalBytes, 2 * MiB, 3 * MiB);
        Assert.True(await StorageTools.SameContentsAsync(source, "raw", image.Path, "raw"));
        Assert.Equal(["disk.raw"], StorageTools.Entries(Images));

        // A base every QEMU (group fabric-qemu) may read, nobody else.
        Assert.Equal((0, Fabric.Hypervisor.Confinement.QemuGroup.Resolve(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead), Fabric.Hypervisor.Confinement.Ownership.Of(image.Path));
    }

    [Fact]
    public async Task ImportImage_Qcow2_IsRewrittenWithoutItsInternalSnapshots()
    {
        var source = Path.Combine(_directory, "disk.qcow2");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", source, "16M");
        await StorageTools.WriteIntoAsync(source, MiB);
        await StorageTools.RunAsync("qemu-img", "snapshot", "-q", "-c", "before", source);

        var image = await _store.ImportImageAsync(PoolRoot, "disk", source, CancellationToken.None);

        Assert.Equal(("qcow2", 16 * MiB, Path.Combine(Images, "disk.qcow2")), (image.Format, image.VirtualBytes, image.Path));
        Assert.False((await StorageTools.InfoAsync(image.Path, "qcow2")).TryGetProperty("snapshots", out _));
        Assert.True(await StorageTools.SameContentsAsync(source, "qcow2", image.Path, "qcow2"));
    }

    [Fact]
    public async Task ImportImage_RawFileNamedQcow2_IsImportedAsRaw()
    {
        var source = StorageTools.RawFile(Path.Combine(_directory, "x.qcow2"), MiB, 4 * MiB);

        var image = await _store.ImportImageAsync(PoolRoot, "x", source, CancellationToken.None);

        Assert.Equal(("raw", Path.Combine(Images, "x.raw")), (image.Format, image.Path));
        Assert.Equal(["x.raw"], StorageTools.Entries(Images));
    }

    [Fact]
    public async Task ImportImage_ExistingName_IsAConflict()
    {
        await ImportRawAsync("base", dataBytes: MiB, sizeBytes: MiB);
        var other = Path.Combine(_directory, "other.qcow2");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", other, "1M");

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "base", other, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Conflict, error.Kind);
        Assert.Equal(["base.raw"], StorageTools.Entries(Images));
    }

    [Fact]
    public async Task ImportImage_Vmdk_IsRefusedNamingTheFormat()
    {
        var source = Path.Combine(_directory, "disk.vmdk");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "vmdk", source, "16M");

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "disk", source, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("'vmdk'", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Images));
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("outside")]
    public async Task ImportImage_Qcow2WithABackingFileOutsideThePool_IsRefused(string backing)
    {
        if (backing == "outside")
        {
            backing = StorageTools.RawFile(Path.Combine(_directory, "outside.raw"), MiB, MiB);
        }

        var source = Path.Combine(_directory, "x.qcow2");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", source, "1M");

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "x", source, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"backing file '{backing}', which leaves the pool", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Images));
    }

    [Fact]
    public async Task ImportImage_Qcow2WithAnExternalDataFile_IsRefused()
    {
        var dataFile = Path.Combine(_directory, "data.raw");
        var source = Path.Combine(_directory, "x.qcow2");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"data_file={dataFile}", source, "1M");

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "x", source, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(dataFile, error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Images));
    }

    [Fact]
    public async Task ImportImage_Symlink_IsRefused()
    {
        var real = StorageTools.RawFile(Path.Combine(_directory, "real.raw"), MiB, MiB);
        var link = Path.Combine(_directory, "link.raw");
        File.CreateSymbolicLink(link, real);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "x", link, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"'{link}' is a symlink", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Images));
    }

    [Fact]
    public async Task ImportImage_NotARegularFile_IsRefused()
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "x", _directory, CancellationToken.None));
        var relative = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, "x", "disk.raw", CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("not a regular file", error.Message, StringComparison.Ordinal);
        Assert.Equal(HypervisorErrorKind.InvalidRequest, relative.Kind);
        Assert.Empty(StorageTools.Entries(Images));
    }

    [Fact]
    public async Task CreateVolume_OverAPlantedSymlink_IsRefusedAndLeavesItsTargetAlone()
    {
        var precious = Path.Combine(_directory, "precious");
        await File.WriteAllTextAsync(precious, "precious");
        var planted = Path.Combine(Volumes, "data.qcow2");
        File.CreateSymbolicLink(planted, precious);

        var create = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", MiB), CancellationToken.None));
        var resize = await Assert.ThrowsAsync<HypervisorException>(() => _store.ResizeVolumeAsync(PoolRoot, "data", GiB, CancellationToken.None));
        var inspect = await Assert.ThrowsAsync<HypervisorException>(() => _store.InspectVolumeAsync(PoolRoot, "data", CancellationToken.None));
        var delete = await Assert.ThrowsAsync<HypervisorException>(() => _store.DeleteVolumeAsync(PoolRoot, "data", CancellationToken.None));
        var path = Assert.Throws<HypervisorException>(() => _store.VolumePath(PoolRoot, "data"));

        foreach (var error in new[] { create, resize, inspect, delete, path })
        {
            Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
            Assert.Contains($"'{planted}' is a symlink", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal("precious", await File.ReadAllTextAsync(precious));
        Assert.Equal(["data.qcow2"], StorageTools.Entries(Volumes));
    }

    [Fact]
    public async Task Pool_WithASymlinkedVolumesFolder_IsRefused()
    {
        var elsewhere = Directory.CreateDirectory(Path.Combine(_directory, "elsewhere")).FullName;
        Directory.Delete(Volumes);
        File.CreateSymbolicLink(Volumes, elsewhere);

        var create = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("data", MiB), CancellationToken.None));
        var measure = await Assert.ThrowsAsync<HypervisorException>(() => _store.MeasurePoolAsync(PoolRoot, CancellationToken.None));
        var prepare = await Assert.ThrowsAsync<HypervisorException>(() => _store.PreparePoolAsync(PoolRoot, CancellationToken.None));

        foreach (var error in new[] { create, measure, prepare })
        {
            Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
            Assert.Contains($"'{Volumes}' is a symlink", error.Message, StringComparison.Ordinal);
        }

        Assert.Empty(StorageTools.Entries(elsewhere));
    }

    [Fact]
    public async Task Pool_WithASymlinkedRoot_IsRefused()
    {
        var link = Path.Combine(_directory, "link");
        File.CreateSymbolicLink(link, PoolRoot);

        var prepare = await Assert.ThrowsAsync<HypervisorException>(() => _store.PreparePoolAsync(link, CancellationToken.None));
        var create = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(link, new VolumeRequest("data", MiB), CancellationToken.None));

        Assert.Equal((HypervisorErrorKind.InvalidRequest, HypervisorErrorKind.InvalidRequest), (prepare.Kind, create.Kind));
        Assert.Contains($"'{link}' is a symlink", create.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Volumes));
    }

    [Fact]
    public async Task CreateVolume_LinkedCloneOfAnImageWhoseBackingFileLeavesThePool_IsRefused()
    {
        // Planted in images/ behind the store's back: an import would have refused it.
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", Path.Combine(Images, "evil.qcow2"), "1M");

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("web", MiB, new VolumeSource("evil", "qcow2", Full: false)), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("'/etc/passwd'", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Volumes));
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("../../etc/x")]
    [InlineData("x/../y")]
    [InlineData("X")]
    [InlineData("x\n")]
    public async Task Names_ThatCouldLeaveTheirFolder_AreRefused(string name)
    {
        var source = StorageTools.RawFile(Path.Combine(_directory, "disk.raw"), MiB, MiB);

        var create = await Assert.ThrowsAsync<HypervisorException>(() => _store.CreateVolumeAsync(PoolRoot, new VolumeRequest(name, MiB), CancellationToken.None));
        var import = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(PoolRoot, name, source, CancellationToken.None));
        var delete = await Assert.ThrowsAsync<HypervisorException>(() => _store.DeleteImageAsync(PoolRoot, name, "raw", CancellationToken.None));
        var clone = await Assert.ThrowsAsync<HypervisorException>(() =>
            _store.CreateVolumeAsync(PoolRoot, new VolumeRequest("web", MiB, new VolumeSource(name, "raw", Full: false)), CancellationToken.None));

        Assert.All(new[] { create, import, delete, clone }, error => Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind));
        Assert.Equal(["disk.raw", "pool"], StorageTools.Entries(_directory));
        Assert.Empty(StorageTools.Entries(Volumes));
        Assert.Empty(StorageTools.Entries(Images));
    }

    [MountFact]
    public async Task ImportImage_LargerThanTheFreeSpace_FailsWithNoSpaceAndLeavesNoFile()
    {
        await using var disk = await Tmpfs.MountAsync(Path.Combine(_directory, "small"), sizeMiB: 16);
        var root = await PrepareAsync(disk);
        var source = StorageTools.RawFile(Path.Combine(_directory, "big.raw"), 24 * MiB, 24 * MiB);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(root, "big", source, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.NoSpace, error.Kind);
        Assert.Contains($"pool '{root}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Path.Combine(root, "images")));
    }

    [MountFact]
    public async Task ImportImage_ThatExpandsBeyondTheFreeSpace_FailsWithNoSpaceAndLeavesNoFile()
    {
        // 32 MiB of text compressed into a few hundred KiB: the free-space check passes, the copy (uncompressed) hits ENOSPC.
        await using var disk = await Tmpfs.MountAsync(Path.Combine(_directory, "small"), sizeMiB: 16);
        var root = await PrepareAsync(disk);
        var text = Path.Combine(_directory, "text.raw");
        await File.WriteAllTextAsync(text, string.Concat(Enumerable.Repeat("fabric volume store\n", (int)(32 * MiB / 20))));
        var compressed = Path.Combine(_directory, "text.qcow2");
        await StorageTools.RunAsync("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", text, compressed);
        Assert.True(new FileInfo(compressed).Length < 4 * MiB);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => _store.ImportImageAsync(root, "text", compressed, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.NoSpace, error.Kind);
        Assert.Contains($"pool '{root}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("No space left on device", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Path.Combine(root, "images")));
        Assert.Equal(0, (await _store.MeasurePoolAsync(root, CancellationToken.None)).UsedBytes);
    }

    [MountFact]
    public async Task CreateVolume_FullCopyLargerThanTheFreeSpace_FailsWithNoSpaceAndLeavesNoFile()
    {
        await using var disk = await Tmpfs.MountAsync(Path.Combine(_directory, "small"), sizeMiB: 16);
        var root = await PrepareAsync(disk);
        await _store.ImportImageAsync(root, "base", StorageTools.RawFile(Path.Combine(_directory, "base.raw"), 10 * MiB, 10 * MiB), CancellationToken.None);

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            _store.CreateVolumeAsync(root, new VolumeRequest("copy", 16 * MiB, new VolumeSource("base", "raw", Full: true)), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.NoSpace, error.Kind);
        Assert.Contains($"pool '{root}'", error.Message, StringComparison.Ordinal);
        Assert.Empty(StorageTools.Entries(Path.Combine(root, "volumes")));
    }

    [MountFact]
    public async Task CreateVolume_OnAFullDisk_SucceedsOrFailsWithNoSpaceLeavingNothing()
    {
        await using var disk = await Tmpfs.MountAsync(Path.Combine(_directory, "small"), sizeMiB: 16);
        var root = await PrepareAsync(disk);
        await _store.ImportImageAsync(root, "base", StorageTools.RawFile(Path.Combine(_directory, "base.raw"), MiB, 8 * MiB), CancellationToken.None);
        disk.Fill("filler");
        Assert.Equal(0, (await _store.MeasurePoolAsync(root, CancellationToken.None)).FilesystemFreeBytes);

        foreach (var request in new[] { new VolumeRequest("thin", GiB), new VolumeRequest("clone", GiB, new VolumeSource("base", "raw", Full: false)) })
        {
            try
            {
                var created = await _store.CreateVolumeAsync(root, request, CancellationToken.None);
                _output.WriteLine($"{request.Name}: created on the full disk ({created.PhysicalBytes} bytes)");
                Assert.Equal(0, (await StorageTools.TryRunAsync("qemu-img", "check", "-f", "qcow2", created.Path)).ExitCode);
            }
            catch (HypervisorException error)
            {
                _output.WriteLine($"{request.Name}: {error.Kind}: {error.Message}");
                Assert.Equal(HypervisorErrorKind.NoSpace, error.Kind);
                Assert.Contains($"pool '{root}'", error.Message, StringComparison.Ordinal);
                Assert.DoesNotContain($"{request.Name}.qcow2", StorageTools.Entries(Path.Combine(root, "volumes")));
            }

            Assert.DoesNotContain(StorageTools.Entries(Path.Combine(root, "volumes")), name => name.StartsWith('.'));
        }
    }

    private async Task<ImageFile> ImportRawAsync(string name, long dataBytes, long sizeBytes)
    {
        var source = StorageTools.RawFile(Path.Combine(_directory, $"{name}.source"), dataBytes, sizeBytes);
        return await _store.ImportImageAsync(PoolRoot, name, source, CancellationToken.None);
    }

    private async Task<string> PrepareAsync(Tmpfs disk)
    {
        var root = Path.Combine(disk.Path, "pool");
        await _store.PreparePoolAsync(root, CancellationToken.None);
        return root;
    }
}
