using Fabric.Cli;
using Fabric.UnitTests.Api;

namespace Fabric.UnitTests.Cli;

/// <summary>What one fabricctl run printed, and how it ended.</summary>
public sealed record CliResult(int Code, string Stdout, string Stderr)
{
    public string[] Lines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>
/// Runs fabricctl command lines in-process against a <see cref="FakeApi"/>: FABRIC_API and FABRIC_TOKEN point at the fake,
/// and every other variable (HOME, XDG_CONFIG_HOME…) is what <see cref="Variables"/> holds.
/// </summary>
public sealed class CliRun(FakeApi api)
{
    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal)
    {
        ["FABRIC_API"] = FakeApi.Url,
        ["FABRIC_TOKEN"] = FakeApi.Token,
    };

    public Task<CliResult> RunAsync(params string[] args) => RunAsync(TextReader.Null, args);

    public async Task<CliResult> RunAsync(TextReader input, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var io = CliIo.Capture(stdout, stderr, input) with { Variables = name => Variables.GetValueOrDefault(name), ApiHandler = () => api };
        var code = await Program.RunAsync(args, io);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }
}
