namespace Fabric.Cli;

/// <summary>
/// Where a command reads and writes, whether a person is watching (progress bars go only to a terminal), and the
/// environment it sees: its variables (<c>FABRIC_API</c>, <c>FABRIC_TOKEN</c>, <c>HOME</c>…) and, for tests, the HTTP
/// handler its API client sends through.
/// </summary>
internal sealed record CliIo(TextReader In, TextWriter Out, TextWriter Error, bool OutIsTerminal, bool ErrorIsTerminal)
{
    /// <summary>The environment variables the command sees.</summary>
    public Func<string, string?> Variables { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Makes the handler the API client sends through; null for a real connection.</summary>
    public Func<HttpMessageHandler>? ApiHandler { get; init; }

    public static CliIo FromConsole() => new(Console.In, Console.Out, Console.Error, !Console.IsOutputRedirected, !Console.IsErrorRedirected);

    /// <summary>Captured output, as tests use it: neither stream is a terminal.</summary>
    public static CliIo Capture(TextWriter output, TextWriter error, TextReader? input = null) => new(input ?? TextReader.Null, output, error, false, false);
}
