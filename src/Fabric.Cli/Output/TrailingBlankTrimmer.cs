using System.Text;

namespace Fabric.Cli.Output;

/// <summary>Passes text through, dropping blanks at the end of each line (Spectre pads table cells to the column width).</summary>
internal sealed class TrailingBlankTrimmer(TextWriter inner) : TextWriter
{
    private readonly StringBuilder _blanks = new();

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        switch (value)
        {
            case ' ':
                _blanks.Append(value);
                break;
            case '\n':
                _blanks.Clear();
                inner.Write(value);
                break;
            case '\r':
                break;
            default:
                if (_blanks.Length > 0)
                {
                    inner.Write(_blanks.ToString());
                    _blanks.Clear();
                }

                inner.Write(value);
                break;
        }
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "")
        {
            Write(c);
        }
    }

    public override void Flush() => inner.Flush();
}
