using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Grains.Persistence;

/// <summary>
/// The one JSON shape Fabric writes outside Orleans grain storage: camelCase, enums by name, no CLR type names.
/// Stored rows name every field explicitly and carry a version, so renaming a C# member (or a wire type in Contracts)
/// never silently changes what is stored; a row of a newer version than this code knows is refused, not misread.
/// </summary>
internal static class StoredFormat
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Write<T>(T row) => JsonSerializer.Serialize(row, Options);

    public static T Read<T>(string json, string what)
        where T : IStoredRow
    {
        T row;
        try
        {
            row = JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidDataException($"{what}: empty row");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{what}: not a stored format this silo reads (written before stored formats were versioned?): {ex.Message}", ex);
        }

        return row.Version <= T.CurrentVersion
            ? row
            : throw new InvalidDataException($"{what}: stored format version {row.Version} is newer than this silo understands ({T.CurrentVersion}); upgrade the silo");
    }
}

/// <summary>A row Fabric stores, with the version of its format.</summary>
public interface IStoredRow
{
    static abstract int CurrentVersion { get; }

    [JsonPropertyName("v")]
    int Version { get; }
}
