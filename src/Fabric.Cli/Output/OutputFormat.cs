using Fabric.Contracts;

namespace Fabric.Cli.Output;

internal enum OutputFormat
{
    /// <summary>Spectre.Console tables for people.</summary>
    Table,

    /// <summary>Indented JSON of the contract records for programs (one compact object per line for streams).</summary>
    Json,
}

internal static class OutputFormats
{
    public static OutputFormat Parse(string text) => text.ToLowerInvariant() switch
    {
        "table" => OutputFormat.Table,
        "json" => OutputFormat.Json,
        _ => throw FabricException.InvalidSpec("output", $"'{Names.Printable(text)}' is not table or json"),
    };
}
