using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Cli.Output;

/// <summary>
/// The CLI's JSON: camelCase, enums by name, nulls kept (a stable shape for scripts), label keys as they are.
/// </summary>
internal static class Json
{
    public static readonly JsonSerializerOptions Indented = Create(indented: true);

    /// <summary>One object per line, for streams (<c>vm watch -o json</c>).</summary>
    public static readonly JsonSerializerOptions Compact = Create(indented: false);

    public static string Serialize<T>(T value, bool indented = true) =>
        JsonSerializer.Serialize(value, indented ? Indented : Compact);

    public static Task WriteAsync<T>(TextWriter writer, T value, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return writer.WriteLineAsync(Serialize(value, indented));
    }

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = new FabricNamingPolicy(),
            WriteIndented = indented,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,

            // Output is read by programs, not embedded in HTML: keep '<', '>' and '+' readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>camelCase, except names whose camelCase form reads wrong: <c>VCpus</c> is <c>vcpus</c>, not <c>vCpus</c>.</summary>
internal sealed class FabricNamingPolicy : JsonNamingPolicy
{
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal)
    {
        ["VCpus"] = "vcpus",
    };

    public override string ConvertName(string name) =>
        Exceptions.TryGetValue(name, out var converted) ? converted : CamelCase.ConvertName(name);
}
