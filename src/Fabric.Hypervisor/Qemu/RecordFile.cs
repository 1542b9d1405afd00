using System.Text.Json;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// The JSON files the driver keeps beside a process (<see cref="InstanceRecord"/>, <see cref="DiskRecord"/>,
/// <see cref="NicRecord"/>): written atomically, so a crash never leaves half a file, and read back as nothing when a
/// file is missing or unreadable.
/// </summary>
internal static class RecordFile
{
    /// <summary>camelCase, indented: what an operator reads in the VM's runtime directory.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>The file's content, or null when it does not exist or is not such a record.</summary>
    public static T? TryRead<T>(string path, JsonSerializerOptions? options = null)
        where T : class
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), options ?? Json) : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return null;
        }
    }

    /// <summary>Writes atomically: a temporary file beside it (created anew, root 0600), then a rename over it.</summary>
    public static void Write<T>(string path, T value, JsonSerializerOptions? options = null) =>
        WriteText(path, JsonSerializer.Serialize(value, options ?? Json));

    /// <summary>
    /// Writes <paramref name="text"/> atomically as a file only the driver's user may read (0600): a VM's directory is
    /// passable by every QEMU (group fabric-qemu), so a record must not be readable by group or others.
    /// </summary>
    public static void WriteText(string path, string text)
    {
        var temp = path + ".tmp";
        File.Delete(temp); // unlink: a leftover (never a symlink's target) goes, so the mode below applies
        Linux.FileSystem.CreateExclusive(temp);
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
