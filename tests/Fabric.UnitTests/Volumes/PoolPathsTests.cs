using Fabric.Hypervisor;
using Fabric.Hypervisor.Volumes;

namespace Fabric.UnitTests.Volumes;

public sealed class PoolPathsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Volume_IsAQcow2FileInVolumes()
    {
        var paths = PoolPaths.For(_temp.Path);

        Assert.Equal(_temp.Combine("volumes", "data-1.qcow2"), paths.Volume("data-1"));
        Assert.Equal(_temp.Combine("images", "debian.raw"), paths.Image("debian", "raw"));
        Assert.Equal(_temp.Combine("images", "debian.qcow2"), paths.Image("debian", "qcow2"));
    }

    [Fact]
    public void For_TrimsATrailingSlash()
    {
        Assert.Equal(_temp.Path, PoolPaths.For(_temp.Path + "/").Root);
    }

    [Fact]
    public void For_AcceptsAMissingRootWhoseParentExists()
    {
        var root = _temp.Combine("pool");

        Assert.Equal(root, PoolPaths.For(root).Root);
        Assert.False(Directory.Exists(root));
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../x")]
    [InlineData("x/../y")]
    [InlineData("a/b")]
    [InlineData("/etc/passwd")]
    [InlineData("Data")]
    [InlineData("data.qcow2")]
    [InlineData("data\n")]
    [InlineData("data\0")]
    [InlineData("-data")]
    [InlineData("data-")]
    [InlineData("")]
    [InlineData(null)]
    public void Volume_RefusesUnsafeNames(string? name)
    {
        var paths = PoolPaths.For(_temp.Path);

        var volume = Assert.Throws<HypervisorException>(() => paths.Volume(name!));
        var image = Assert.Throws<HypervisorException>(() => paths.Image(name!, "raw"));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, volume.Kind);
        Assert.Contains("not a safe volume name", volume.Message, StringComparison.Ordinal);
        Assert.Equal(HypervisorErrorKind.InvalidRequest, image.Kind);
    }

    [Fact]
    public void Volume_Accepts63CharactersAndRefuses64()
    {
        var paths = PoolPaths.For(_temp.Path);

        Assert.EndsWith(new string('v', 63) + ".qcow2", paths.Volume(new string('v', 63)), StringComparison.Ordinal);
        Assert.Equal(HypervisorErrorKind.InvalidRequest, Assert.Throws<HypervisorException>(() => paths.Volume(new string('v', 64))).Kind);
    }

    [Theory]
    [InlineData("vmdk")]
    [InlineData("QCOW2")]
    [InlineData("qcow2/../x")]
    [InlineData("")]
    public void Image_RefusesFormatsOtherThanRawAndQcow2(string format)
    {
        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(_temp.Path).Image("debian", format));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("not raw or qcow2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pool")]
    [InlineData("./pool")]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("/tmp/../etc")]
    [InlineData("/tmp/./pool")]
    [InlineData("/tmp//pool")]
    public void For_RefusesRootsThatAreRelativeOrNotNormalized(string root)
    {
        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(root));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void For_RefusesARootWhoseParentIsMissing()
    {
        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(_temp.Combine("missing", "pool")));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(_temp.Combine("missing"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void For_RefusesARootThatIsASymlink()
    {
        var real = Directory.CreateDirectory(_temp.Combine("real")).FullName;
        var link = _temp.Combine("link");
        File.CreateSymbolicLink(link, real);

        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(link));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"'{link}' is a symlink", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void For_RefusesARootThatIsAFile()
    {
        var file = _temp.WriteFile("file", "x");

        Assert.Equal(HypervisorErrorKind.InvalidRequest, Assert.Throws<HypervisorException>(() => PoolPaths.For(file)).Kind);
    }

    [Fact]
    public void For_AcceptsARootBelowASymlinkedAncestor()
    {
        // The root's ancestors are the operator's choice (e.g. /var/run -> /run); only the root and below are the pool's.
        var real = Directory.CreateDirectory(_temp.Combine("real")).FullName;
        var link = _temp.Combine("link");
        File.CreateSymbolicLink(link, real);

        Assert.Equal(Path.Combine(link, "pool"), PoolPaths.For(Path.Combine(link, "pool")).Root);
    }

    [Theory]
    [InlineData("volumes")]
    [InlineData("images")]
    public void Paths_RefuseASymlinkedFolder(string folder)
    {
        var elsewhere = Directory.CreateDirectory(_temp.Combine("elsewhere")).FullName;
        var root = Directory.CreateDirectory(_temp.Combine("pool")).FullName;
        File.CreateSymbolicLink(Path.Combine(root, folder), elsewhere);
        var paths = PoolPaths.For(root);

        var error = Assert.Throws<HypervisorException>(() => folder == "volumes" ? paths.Volume("data") : paths.Image("debian", "raw"));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"'{Path.Combine(root, folder)}' is a symlink", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Volume_RefusesASymlinkAtTheFileEvenADanglingOne()
    {
        var root = Directory.CreateDirectory(_temp.Combine("pool")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "volumes"));
        var file = Path.Combine(root, "volumes", "data.qcow2");
        File.CreateSymbolicLink(file, _temp.Combine("nothing-here"));

        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(root).Volume("data"));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains($"'{file}' is a symlink", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Volume_RefusesADirectoryWhereTheFileBelongs()
    {
        var root = Directory.CreateDirectory(_temp.Combine("pool")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "volumes", "data.qcow2"));

        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(root).Volume("data"));

        Assert.Contains("not a regular file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExistingFolder_IsNotFoundInAnUnpreparedPool()
    {
        var error = Assert.Throws<HypervisorException>(() => PoolPaths.For(_temp.Path).ExistingFolder(PoolPaths.VolumesFolder));

        Assert.Equal(HypervisorErrorKind.NotFound, error.Kind);
    }
}
