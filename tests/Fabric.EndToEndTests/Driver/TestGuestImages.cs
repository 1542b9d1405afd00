namespace Fabric.EndToEndTests.Driver;

/// <summary>Finds the guest images that <c>./fabric images</c> builds, and fails loudly when they are missing.</summary>
internal static class TestGuestImages
{
    public const string Tiny = "tiny";
    public const string Linux = "linux";

    private static readonly Lazy<string> Located = new(Locate);

    /// <summary>
    /// <c>$FABRIC_IMAGES</c> when set; otherwise <c>.fabric/images</c> next to the <c>Fabric.sln</c> found by walking
    /// up from the test assembly.
    /// </summary>
    public static string Directory => Located.Value;

    private static string Locate()
    {
        var configured = Environment.GetEnvironmentVariable("FABRIC_IMAGES");
        string directory;
        if (!string.IsNullOrEmpty(configured))
        {
            directory = Path.GetFullPath(configured);
        }
        else
        {
            var repository = FindRepository(AppContext.BaseDirectory)
                ?? throw new InvalidOperationException($"cannot find Fabric.sln above {AppContext.BaseDirectory}; set FABRIC_IMAGES to the guest images directory");
            directory = Path.Combine(repository, ".fabric", "images");
        }

        var missing = new[] { Tiny, Linux }.Where(image => !File.Exists(Path.Combine(directory, image, "image.json"))).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"guest image(s) {string.Join(", ", missing)} missing in {directory}: run ./fabric images (from the repository root) first");
        }

        return directory;
    }

    private static string? FindRepository(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Fabric.sln")))
            {
                return directory.FullName;
            }
        }

        return null;
    }
}
