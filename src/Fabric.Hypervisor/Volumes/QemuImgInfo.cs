using System.Text.Json;

namespace Fabric.Hypervisor.Volumes;

/// <summary>
/// What <c>qemu-img info --output=json</c> says of one image (QEMU's <c>ImageInfo</c>; names as it prints them).
/// </summary>
/// <param name="Filename">The file as qemu-img opened it (<c>filename</c>).</param>
/// <param name="Format">The format driver: given with <c>-f</c>, or probed (<c>format</c>).</param>
/// <param name="VirtualSize">The disk's size as a guest sees it (<c>virtual-size</c>).</param>
/// <param name="ActualSize">qemu-img's own figure of the bytes the file occupies (<c>actual-size</c>), when it gives one.</param>
/// <param name="BackingFilename">The backing file as recorded in the image (<c>backing-filename</c>), or null.</param>
/// <param name="FullBackingFilename">The backing file resolved against the image's folder (<c>full-backing-filename</c>), or null.</param>
/// <param name="BackingFormat">The backing file's format as recorded (<c>backing-filename-format</c>), or null when none is.</param>
/// <param name="DataFile">A qcow2's external data file (<c>format-specific.data.data-file</c>), or null.</param>
/// <param name="Encrypted">The image is encrypted (<c>encrypted</c>).</param>
/// <param name="Snapshots">The names of its internal snapshots (<c>snapshots[].name</c>).</param>
public sealed record QemuImgInfo(
    string Filename,
    string Format,
    long VirtualSize,
    long? ActualSize,
    string? BackingFilename,
    string? FullBackingFilename,
    string? BackingFormat,
    string? DataFile,
    bool Encrypted,
    IReadOnlyList<string> Snapshots)
{
    /// <summary>The backing file, resolved when qemu-img resolved it; null when there is none.</summary>
    public string? Backing => FullBackingFilename ?? BackingFilename;

    /// <summary>Reads the object printed by <c>qemu-img info --output=json</c>; <c>Failed</c> when it is not one.</summary>
    public static QemuImgInfo Parse(string json)
    {
        using var document = Read(json);
        return FromElement(document.RootElement);
    }

    /// <summary>Reads the array printed with <c>--backing-chain</c>: the image first, then its backing files in order.</summary>
    public static IReadOnlyList<QemuImgInfo> ParseChain(string json)
    {
        using var document = Read(json);
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw Unreadable("a backing chain is not a JSON array");
        }

        return [.. document.RootElement.EnumerateArray().Select(FromElement)];
    }

    private static JsonDocument Read(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"qemu-img info printed no JSON: {ex.Message}", ex);
        }
    }

    private static QemuImgInfo FromElement(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Unreadable("an image's information is not a JSON object");
        }

        var format = String(element, "format") ?? throw Unreadable("no 'format'");
        var virtualSize = Number(element, "virtual-size") ?? throw Unreadable("no 'virtual-size'");
        if (virtualSize < 0)
        {
            throw Unreadable($"'virtual-size' {virtualSize} is negative");
        }

        string? dataFile = null;
        if (element.TryGetProperty("format-specific", out var specific) && specific.ValueKind == JsonValueKind.Object
            && specific.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object)
        {
            dataFile = String(data, "data-file");
        }

        var snapshots = element.TryGetProperty("snapshots", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(snapshot => snapshot.ValueKind == JsonValueKind.Object ? String(snapshot, "name") : null).OfType<string>().ToList()
            : [];

        return new QemuImgInfo(
            String(element, "filename") ?? "",
            format,
            virtualSize,
            Number(element, "actual-size"),
            String(element, "backing-filename"),
            String(element, "full-backing-filename"),
            String(element, "backing-filename-format"),
            dataFile,
            element.TryGetProperty("encrypted", out var encrypted) && encrypted.ValueKind == JsonValueKind.True,
            snapshots);
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : null;

    private static HypervisorException Unreadable(string what) => new(HypervisorErrorKind.Failed, $"qemu-img info output unreadable: {what}");
}
