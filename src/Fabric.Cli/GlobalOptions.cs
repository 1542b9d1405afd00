using System.CommandLine;
using Fabric.Cli.Output;

namespace Fabric.Cli;

/// <summary>Options every command takes: where the fabric is, and how to print.</summary>
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

    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = "Redis connection string of the cluster (default: $FABRIC_REDIS; none means a local development silo)",
        Recursive = true,
    };

    public Option<string?> Cluster { get; } = new("--cluster")
    {
        Description = "Cluster id (default: $FABRIC_CLUSTER_ID, else 'fabric')",
        Recursive = true,
    };

    public Option<int?> GatewayPort { get; } = new("--gateway-port")
    {
        Description = "Gateway port of a local development silo (default: $FABRIC_GATEWAY_PORT, else 30000)",
        Recursive = true,
        CustomParser = r => Parsers.Parse<int?>(r, text => Parsers.Port("gateway-port", text)),
    };

    public IEnumerable<Option> All => [Output, Redis, Cluster, GatewayPort];
}
