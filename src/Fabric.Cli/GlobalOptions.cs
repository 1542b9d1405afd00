using System.CommandLine;
using Fabric.Cli.Output;

namespace Fabric.Cli;

/// <summary>Options every command takes. Where the fabric is comes from the environment (FABRIC_API) or fabricctl login.</summary>
internal sealed class GlobalOptions
{
    public Option<OutputFormat> Output { get; } = new("--output", "-o")
    {
        Description = "Output format: table (for people) or json (for programs)",
        Recursive = true,
        HelpName = "table|json",
        DefaultValueFactory = _ => OutputFormat.Table,
        CustomParser = r => Parsers.Parse(r, OutputFormats.Parse),
    };

    public IEnumerable<Option> All => [Output];
}
