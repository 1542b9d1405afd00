using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Driver;

/// <summary>The test guests by name, and where <c>./fabric images</c> built them (<see cref="RepoPaths.Images"/>).</summary>
internal static class TestGuestImages
{
    public const string Tiny = "tiny";
    public const string Linux = "linux";
    public const string Memwalk = "memwalk";

    private static readonly Lazy<string> Located = new(() => RepoPaths.Images);

    /// <summary>The images directory; fails loudly, naming <c>./fabric images</c>, when an image is missing.</summary>
    public static string Directory => Located.Value;
}
