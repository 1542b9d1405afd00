using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Hypervisor;

/// <summary>
/// Loads guest images from a directory with one folder per image, each holding an <c>image.json</c> manifest
/// (written by <c>guests/build.sh</c>). Files named in a manifest must be plain names inside the image's folder.
/// </summary>
public static class ImageCatalog
{
    private static readonly JsonSerializerOptions ManifestJson = new()
    {
        PropertyNameCaseInsensitive = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        Converters = { new JsonStringEnumConverter<GuestBoot>(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Images found in <paramref name="directory"/>, with the problems of those that could not be loaded.</summary>
    public static (IReadOnlyDictionary<string, GuestImage> Images, IReadOnlyList<string> Problems) Load(string directory)
    {
        var images = new Dictionary<string, GuestImage>(StringComparer.Ordinal);
        var problems = new List<string>();
        if (!Directory.Exists(directory))
        {
            problems.Add($"image directory '{directory}' does not exist (run ./fabric images)");
            return (images, problems);
        }

        foreach (var folder in Directory.EnumerateDirectories(directory).Order(StringComparer.Ordinal))
        {
            var manifestPath = Path.Combine(folder, "image.json");
            if (!File.Exists(manifestPath))
            {
                continue;
            }

            try
            {
                var image = LoadOne(folder, manifestPath);
                images[image.Name] = image;
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or IOException)
            {
                problems.Add($"{manifestPath}: {ex.Message}");
            }
        }

        return (images, problems);
    }

    private static GuestImage LoadOne(string folder, string manifestPath)
    {
        var manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(manifestPath), ManifestJson)
            ?? throw new InvalidDataException("empty manifest");
        var name = manifest.Name ?? "";
        if (!SafeNames.IsSafe(name) || name != Path.GetFileName(folder))
        {
            throw new InvalidDataException($"name '{name}' must be a valid name equal to its folder's name");
        }

        string? ImageFile(string? fileName, string field)
        {
            if (fileName is null)
            {
                return null;
            }

            if (fileName.Length == 0 || fileName.Contains('/', StringComparison.Ordinal) || fileName is "." or "..")
            {
                throw new InvalidDataException($"{field} '{fileName}' must be a plain file name inside the image folder");
            }

            var path = Path.Combine(folder, fileName);
            return File.Exists(path) ? path : throw new InvalidDataException($"{field} '{fileName}' is missing");
        }

        var image = new GuestImage(
            name,
            manifest.Boot,
            ImageFile(manifest.Disk, "disk"),
            ImageFile(manifest.Kernel, "kernel"),
            ImageFile(manifest.Initrd, "initrd"),
            manifest.Cmdline,
            Math.Max(1, manifest.MinMemoryMiB),
            manifest.Description ?? "");

        var complete = image.Boot switch
        {
            GuestBoot.Disk => image.Disk is not null,
            GuestBoot.Kernel => image.Kernel is not null,
            _ => false,
        };
        return complete ? image : throw new InvalidDataException($"boot '{image.Boot}' needs its {(image.Boot == GuestBoot.Disk ? "disk" : "kernel")} file");
    }

    private sealed class Manifest
    {
        public string? Name { get; set; }

        public GuestBoot Boot { get; set; }

        public string? Disk { get; set; }

        public string? Kernel { get; set; }

        public string? Initrd { get; set; }

        public string? Cmdline { get; set; }

        public int MinMemoryMiB { get; set; }

        public string? Description { get; set; }
    }
}
