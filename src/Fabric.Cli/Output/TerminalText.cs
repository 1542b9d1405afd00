using System.Text;

namespace Fabric.Cli.Output;

/// <summary>
/// Makes text from a guest safe to print on the operator's terminal. It drops every terminal control: escape sequences
/// (CSI such as <c>ESC[6n</c> or colours, OSC such as a window title, DCS/SOS/PM/APC strings, and the short
/// <c>ESC</c> sequences), their 8-bit C1 forms and every other C1 control (U+0080–U+009F), DEL, and every C0 control
/// except tab and newline (carriage return, bell, backspace, …). All other text, whatever its script, passes as is.
/// </summary>
/// <remarks>
/// It works on one line at a time and starts each line afresh. <c>FabricApiClient.ConsoleAsync</c> joins its reads before
/// splitting lines, so a sequence split across two reads arrives whole; only a sequence with a line break inside it
/// spans lines. Such a sequence is dropped up to the end of its line, and the rest of it on the next line is printed as
/// plain text: harmless, since the result never holds a character that could start or continue a sequence. Carrying
/// the state over instead would let a stray <c>ESC</c> at the end of one line swallow the first character of the next.
/// </remarks>
internal static class TerminalText
{
    private const char Bel = '\u0007';
    private const char Esc = '\u001b';
    private const char Del = '\u007f';

    // The 8-bit forms of ESC P, ESC X, ESC [, ESC \, ESC ], ESC ^ and ESC _.
    private const char Dcs = '\u0090';
    private const char Sos = '\u0098';
    private const char Csi = '\u009b';
    private const char St = '\u009c';
    private const char Osc = '\u009d';
    private const char Pm = '\u009e';
    private const char Apc = '\u009f';

    /// <summary>Returns <paramref name="line"/> without terminal controls (the same instance when it has none).</summary>
    public static string Strip(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var first = IndexOfControl(line, 0);
        if (first < 0)
        {
            return line;
        }

        var text = new StringBuilder(line.Length);
        var i = 0;
        for (var control = first; control >= 0; control = IndexOfControl(line, i))
        {
            text.Append(line, i, control - i);
            i = SkipControl(line, control);
        }

        return text.Append(line, i, line.Length - i).ToString();
    }

    private static bool IsControl(char c) =>
        c is < ' ' and not '\t' and not '\n' or >= Del and <= Apc;

    private static int IndexOfControl(string line, int from)
    {
        for (var i = from; i < line.Length; i++)
        {
            if (IsControl(line[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Returns the index just after the control at <paramref name="i"/> and the sequence it starts, if any.</summary>
    private static int SkipControl(string line, int i) => line[i] switch
    {
        Esc => SkipEscape(line, i + 1),
        Csi => SkipCsi(line, i + 1),
        Osc or Dcs or Sos or Pm or Apc => SkipString(line, i + 1),
        _ => i + 1,
    };

    /// <summary>After an ESC at <paramref name="i"/> − 1.</summary>
    private static int SkipEscape(string line, int i)
    {
        if (i == line.Length)
        {
            return i; // A bare ESC at the end of the line.
        }

        switch (line[i])
        {
            case '[':
                return SkipCsi(line, i + 1);
            case ']' or 'P' or 'X' or '^' or '_':
                return SkipString(line, i + 1);
            case >= ' ' and <= '/':
                // Intermediates, then one final byte (ESC ( B selects a character set).
                while (i < line.Length && line[i] is >= ' ' and <= '/')
                {
                    i++;
                }

                return i < line.Length && line[i] is >= '0' and <= '~' ? i + 1 : i;
            case >= '0' and <= '~':
                return i + 1; // ESC c, ESC 7, ESC =, …
            default:
                return i; // Not a sequence: drop the ESC alone and look at what follows on its own.
        }
    }

    /// <summary>
    /// After a CSI introducer: parameter bytes, intermediate bytes, one final byte. A malformed sequence ends at the
    /// first byte that does not fit, which is then looked at on its own.
    /// </summary>
    private static int SkipCsi(string line, int i)
    {
        while (i < line.Length && line[i] is >= '0' and <= '?')
        {
            i++;
        }

        while (i < line.Length && line[i] is >= ' ' and <= '/')
        {
            i++;
        }

        return i < line.Length && line[i] is >= '@' and <= '~' ? i + 1 : i;
    }

    /// <summary>
    /// After the introducer of a control string (OSC, DCS, SOS, PM, APC): up to and including its terminator, BEL or
    /// ST (ESC \ or U+009C). Another ESC ends the string and starts a sequence of its own; no terminator, the line.
    /// </summary>
    private static int SkipString(string line, int i)
    {
        for (; i < line.Length; i++)
        {
            switch (line[i])
            {
                case Bel or St:
                    return i + 1;
                case Esc:
                    return i + 1 < line.Length && line[i + 1] == '\\' ? i + 2 : i;
            }
        }

        return i;
    }
}
