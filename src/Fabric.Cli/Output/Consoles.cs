using Spectre.Console;

namespace Fabric.Cli.Output;

internal static class Consoles
{
    /// <summary>Lines are never wrapped when the output goes to a file or a pipe.</summary>
    private const int UnwrappedWidth = 4096;

    /// <summary>
    /// A console for tables: plain text (no colour or cursor codes, so output reads the same in a terminal, a pipe or a
    /// test), as wide as the terminal or unwrapped, without the trailing blanks Spectre pads cells with.
    /// </summary>
    public static IAnsiConsole ForTables(TextWriter writer, bool isTerminal)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(new TrailingBlankTrimmer(writer)),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = isTerminal ? TerminalWidth() : UnwrappedWidth;
        return console;
    }

    /// <summary>A live console for progress bars on a terminal.</summary>
    public static IAnsiConsole ForProgress(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = AnsiSupport.Detect,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.Yes,
    });

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth is > 0 and var width ? width : 80;
        }
        catch (IOException)
        {
            return 80;
        }
    }
}
