using System.Text;

namespace Fabric.Client;

/// <summary>
/// Reads a Server-Sent Events stream (the WHATWG event-stream format): <c>data:</c> lines make up an event, a blank
/// line ends it, lines starting with <c>:</c> are comments (heartbeats), other fields are ignored. Lines and events are
/// bounded, so a misbehaving server cannot make the reader hold unbounded text.
/// </summary>
internal sealed class ServerSentEvents(Stream stream) : IDisposable
{
    /// <summary>The most one line or one event may hold.</summary>
    public const int MaxEventChars = 1 << 20;

    private readonly StreamReader _reader = new(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false);
    private readonly char[] _buffer = new char[8192];
    private readonly StringBuilder _line = new();
    private int _start;
    private int _end;
    private bool _afterCarriageReturn;

    /// <summary>Closes the stream.</summary>
    public void Dispose() => _reader.Dispose();

    /// <summary>The next event's data (its <c>data:</c> lines joined by newlines); null when the stream ends.</summary>
    public async Task<string?> ReadEventAsync(CancellationToken cancellationToken)
    {
        var data = new StringBuilder();
        var hasData = false;
        while (await ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (hasData)
                {
                    return data.ToString();
                }

                continue;
            }

            if (line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            if (field != "data")
            {
                continue;
            }

            var value = colon < 0 ? "" : line[(colon + 1)..];
            value = value.StartsWith(' ') ? value[1..] : value;
            if (hasData)
            {
                data.Append('\n');
            }

            if (data.Length + value.Length > MaxEventChars)
            {
                throw new InvalidDataException($"an event is longer than {MaxEventChars} characters");
            }

            data.Append(value);
            hasData = true;
        }

        return null;
    }

    /// <summary>The next line (ended by LF, CRLF or CR), without its end; null at the end of the stream.</summary>
    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            for (; _start < _end; _start++)
            {
                var c = _buffer[_start];
                if (_afterCarriageReturn)
                {
                    _afterCarriageReturn = false;
                    if (c == '\n')
                    {
                        continue;
                    }
                }

                if (c is '\n' or '\r')
                {
                    _afterCarriageReturn = c == '\r';
                    _start++;
                    var line = _line.ToString();
                    _line.Clear();
                    return line;
                }

                if (_line.Length >= MaxEventChars)
                {
                    throw new InvalidDataException($"a line is longer than {MaxEventChars} characters");
                }

                _line.Append(c);
            }

            _start = 0;
            _end = await _reader.ReadAsync(_buffer.AsMemory(), cancellationToken);
            if (_end == 0)
            {
                // The stream ended; a last line without its end counts, an event without its blank line does not.
                if (_line.Length == 0)
                {
                    return null;
                }

                var last = _line.ToString();
                _line.Clear();
                return last;
            }
        }
    }
}
