using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Grains.Persistence;

/// <summary>The one JSON shape Fabric writes outside Orleans grain storage: camelCase, enums by name, no CLR type names.</summary>
internal static class FabricJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}
