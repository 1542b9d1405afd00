using Fabric.Hypervisor;

namespace Fabric.UnitTests.Images;

public sealed class ImageCatalogTests : IDisposable
{
    private const string TinyManifest =
        """{"name":"tiny","boot":"disk","disk":"tiny.img","minMemoryMiB":2,"description":"512-byte boot sector"}""";

    private const string LinuxManifest =
        """{"name":"linux","boot":"kernel","kernel":"vmlinuz","initrd":"initrd.gz","cmdline":"console=ttyS0 quiet panic=-1","minMemoryMiB":128,"description":"Debian kernel"}""";

    private readonly TempDirectory _images = new();

    public void Dispose() => _images.Dispose();

    [Fact]
    public void Load_ReadsTinyAndLinuxAsGuestsBuildThem()
    {
        AddTiny();
        AddLinux();

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(problems);
        Assert.Equal(["linux", "tiny"], images.Keys.Order());
        Assert.Equal(
            new GuestImage("tiny", GuestBoot.Disk, _images.Combine("tiny", "tiny.img"), null, null, null, 2, "512-byte boot sector"),
            images["tiny"]);
        Assert.Equal(
            new GuestImage(
                "linux",
                GuestBoot.Kernel,
                null,
                _images.Combine("linux", "vmlinuz"),
                _images.Combine("linux", "initrd.gz"),
                "console=ttyS0 quiet panic=-1",
                128,
                "Debian kernel"),
            images["linux"]);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("../tiny/tiny.img")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/tiny.img")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    public void Load_ReportsAFileOutsideTheImageFolder(string disk)
    {
        AddTiny();
        _images.WriteFile("x", "outside");
        _images.WriteFile("evil/sub/tiny.img", "");
        _images.WriteFile("evil/image.json", $$"""{"name":"evil","boot":"disk","disk":"{{disk}}"}""");

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Equal(["tiny"], images.Keys);
        var problem = Assert.Single(problems);
        Assert.StartsWith(_images.Combine("evil", "image.json"), problem, StringComparison.Ordinal);
        Assert.Contains("plain file name", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"linux","boot":"kernel","kernel":"vmlinuz","initrd":"initrd.gz"}""", "initrd 'initrd.gz' is missing")]
    [InlineData("""{"name":"linux","boot":"kernel","kernel":"bzImage"}""", "kernel 'bzImage' is missing")]
    [InlineData("""{"name":"linux","boot":"disk","disk":"linux.img"}""", "disk 'linux.img' is missing")]
    [InlineData("""{"name":"linux","boot":"kernel"}""", "needs its kernel")]
    [InlineData("""{"name":"linux","boot":"disk","kernel":"vmlinuz"}""", "needs its disk")]
    public void Load_ReportsMissingFiles(string manifest, string expected)
    {
        _images.WriteFile("linux/vmlinuz", "kernel");
        _images.WriteFile("linux/image.json", manifest);

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(images);
        Assert.Contains(expected, Assert.Single(problems), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("other")] // not its folder's name
    [InlineData("")]
    [InlineData("../tiny")]
    public void Load_ReportsANameThatIsNotItsFolder(string name)
    {
        _images.WriteFile("tiny/tiny.img", "");
        _images.WriteFile("tiny/image.json", $$"""{"name":"{{name}}","boot":"disk","disk":"tiny.img"}""");

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(images);
        Assert.Contains("folder's name", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ReportsAManifestWithoutName()
    {
        _images.WriteFile("tiny/tiny.img", "");
        _images.WriteFile("tiny/image.json", """{"boot":"disk","disk":"tiny.img"}""");

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(images);
        Assert.Single(problems);
    }

    [Theory]
    [InlineData("Tiny")] // uppercase
    [InlineData("a,b")] // would split a QEMU option
    [InlineData("tiny\n")] // '$' in a .NET regex also matches before a final newline
    [InlineData("-tiny")]
    public void Load_ReportsAnUnsafeNameEvenWhenItMatchesItsFolder(string name)
    {
        _images.WriteFile(Path.Combine(name, "tiny.img"), "");
        _images.WriteFile(Path.Combine(name, "image.json"), System.Text.Json.JsonSerializer.Serialize(new { name, boot = "disk", disk = "tiny.img" }));

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(images);
        Assert.Single(problems);
    }

    [Theory]
    [InlineData("{\"name\":\"tiny\",")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("""{"name":"tiny","boot":"floppy","disk":"tiny.img"}""")]
    [InlineData("""{"name":"tiny","boot":"disk","disk":"tiny.img","minMemoryMiB":"lots"}""")]
    public void Load_ReportsAMalformedManifest(string manifest)
    {
        _images.WriteFile("tiny/tiny.img", "");
        _images.WriteFile("tiny/image.json", manifest);

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Empty(images);
        Assert.StartsWith(_images.Combine("tiny", "image.json") + ": ", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_KeepsGoodImagesBesideBadOnes()
    {
        AddTiny();
        _images.WriteFile("broken/image.json", "{");
        AddLinux();

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Equal(["linux", "tiny"], images.Keys.Order());
        Assert.Single(problems);
    }

    [Fact]
    public void Load_IgnoresFoldersWithoutManifest()
    {
        AddTiny();
        Directory.CreateDirectory(_images.Combine("cache"));
        _images.WriteFile("notes.txt", "not an image");

        var (images, problems) = ImageCatalog.Load(_images.Path);

        Assert.Equal(["tiny"], images.Keys);
        Assert.Empty(problems);
    }

    [Fact]
    public void Load_ReportsAMissingDirectory()
    {
        var (images, problems) = ImageCatalog.Load(_images.Combine("nowhere"));

        Assert.Empty(images);
        Assert.Contains("does not exist", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_RaisesAnAbsentOrNonPositiveMinimumMemoryToOne()
    {
        _images.WriteFile("tiny/tiny.img", "");
        _images.WriteFile("tiny/image.json", """{"name":"tiny","boot":"disk","disk":"tiny.img","minMemoryMiB":-4}""");

        Assert.Equal(1, ImageCatalog.Load(_images.Path).Images["tiny"].MinMemoryMiB);
    }

    private void AddTiny()
    {
        _images.WriteFile("tiny/tiny.img", new string('\0', 512));
        _images.WriteFile("tiny/image.json", TinyManifest);
    }

    private void AddLinux()
    {
        _images.WriteFile("linux/vmlinuz", "kernel");
        _images.WriteFile("linux/initrd.gz", "initrd");
        _images.WriteFile("linux/image.json", LinuxManifest);
    }
}
