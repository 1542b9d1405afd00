using System.Text.Json;
using Fabric.Contracts;

namespace Fabric.Cli.Output;

/// <summary>The CLI's JSON: the API's own (<see cref="ApiJson"/>), indented for tables' readers, compact for streams.</summary>
internal static class Json
{
    public static JsonSerializerOptions Indented => ApiJson.Indented;

    /// <summary>One object per line, for streams (<c>vm watch -o json</c>).</summary>
    public static JsonSerializerOptions Compact => ApiJson.Compact;

    public static string Serialize<T>(T value, bool indented = true) =>
        JsonSerializer.Serialize(value, indented ? Indented : Compact);

    public static Task WriteAsync<T>(TextWriter writer, T value, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return writer.WriteLineAsync(Serialize(value, indented));
    }
}
