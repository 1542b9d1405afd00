namespace Fabric.TestSupport;

/// <summary>Where the repository's build outputs and guest images are, seen from a test or benchmark binary.</summary>
public static class RepoPaths
{
    /// <summary>The repository root: the nearest directory above this binary holding Fabric.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The guest images (<c>FABRIC_IMAGES</c>, else <c>.fabric/images</c>), which <c>./fabric images</c> builds.</summary>
    public static string Images
    {
        get
        {
            var images = Environment.GetEnvironmentVariable("FABRIC_IMAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Root, ".fabric", "images");
            foreach (var image in new[] { "tiny", "linux", "memwalk" })
            {
                if (!File.Exists(Path.Combine(images, image, "image.json")))
                {
                    throw new InvalidOperationException($"guest image '{image}' is missing from {images}: run ./fabric images");
                }
            }

            return images;
        }
    }

    /// <summary>The silo program built in the same configuration as this binary.</summary>
    public static string SiloDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var dll = Path.Combine(Root, "silo", "Fabric.Silo", "bin", configuration, "net10.0", "Fabric.Silo.dll");
            return File.Exists(dll) ? dll : throw new InvalidOperationException($"the silo is not built: {dll} is missing");
        }
    }

    /// <summary>deploy/local/underlay.sh: the network namespaces of the namespaces topology (docs/local-topology.md).</summary>
    public static string UnderlayScript => Path.Combine(Root, "deploy", "local", "underlay.sh");

    /// <summary>The repository's entry script, <c>./fabric</c>.</summary>
    public static string FabricScript => Path.Combine(Root, "fabric");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Fabric.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no Fabric.sln above {AppContext.BaseDirectory}");
    }
}
