namespace Fabric.Cli;

/// <summary>Where a command writes, and whether a person is watching (progress bars go only to a terminal).</summary>
internal sealed record CliIo(TextReader In, TextWriter Out, TextWriter Error, bool OutIsTerminal, bool ErrorIsTerminal)
{
    public static CliIo FromConsole() => new(Console.In, Console.Out, Console.Error, !Console.IsOutputRedirected, !Console.IsErrorRedirected);

    /// <summary>Captured output, as tests use it: neither stream is a terminal.</summary>
    public static CliIo Capture(TextWriter output, TextWriter error, TextReader? input = null) => new(input ?? TextReader.Null, output, error, false, false);
}
