using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>
/// The JSON every outward interface speaks — the HTTP API, its clients and <c>fabricctl -o json</c>: camelCase, enums by
/// name, nulls kept (a stable shape for scripts), label keys as they are.
/// </summary>
public static class ApiJson
{
    /// <summary>One object per line: the HTTP API, event streams.</summary>
    public static readonly JsonSerializerOptions Compact = Create(indented: false);

    /// <summary>For people reading it: <c>fabricctl -o json</c>.</summary>
    public static readonly JsonSerializerOptions Indented = Create(indented: true);

    /// <summary>Applies the API's conventions to <paramref name="options"/> (e.g. ASP.NET Core's own).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.PropertyNamingPolicy = new FabricNamingPolicy();
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;

        // Output is read by programs, not embedded in HTML: keep '<', '>' and '+' readable.
        options.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = Configure(new JsonSerializerOptions { WriteIndented = indented });
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>camelCase, except names whose camelCase form reads wrong: <c>VCpus</c> is <c>vcpus</c>, not <c>vCpus</c>.</summary>
public sealed class FabricNamingPolicy : JsonNamingPolicy
{
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal)
    {
        ["VCpus"] = "vcpus",
    };

    public override string ConvertName(string name) =>
        Exceptions.TryGetValue(name, out var converted) ? converted : CamelCase.ConvertName(name);
}
