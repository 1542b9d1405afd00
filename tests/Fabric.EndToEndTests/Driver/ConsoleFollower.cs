using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Follows one VM's console by offset as a client does (<c>NextOffset</c> to <c>NextOffset</c>), keeps every byte and
/// line, and fails at once if a read does not start where the previous one ended (a skip or a repeat). Bytes are
/// decoded as Latin-1, one character per byte, so lengths are byte counts.
/// </summary>
internal sealed class ConsoleFollower(IHypervisorDriver driver, string vm, long offset = 0)
{
    private const int ReadSize = 64 * 1024;
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(1);

    private readonly StringBuilder _text = new();
    private readonly StringBuilder _partial = new();
    private readonly List<string> _lines = [];
    private int _consumed;

    /// <summary>Where the next read starts.</summary>
    public long Offset { get; private set; } = offset;

    /// <summary>Where this follower started reading.</summary>
    public long First { get; } = offset;

    /// <summary>Everything read, in order.</summary>
    public string Text => _text.ToString();

    public IReadOnlyList<string> Lines => _lines;

    /// <summary>Consumes lines until one matches <paramref name="pattern"/>, and returns its match.</summary>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            for (; _consumed < _lines.Count; _consumed++)
            {
                if (pattern.Match(_lines[_consumed]) is { Success: true } match)
                {
                    _consumed++;
                    return match;
                }
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no console line of vm '{vm}' matched /{pattern}/ within {timeout.TotalSeconds:0.#} s (offset {Offset}). Last lines:\n  {string.Join("\n  ", _lines.TakeLast(10))}");
            }

            await ReadAsync(remaining < LongestWait ? remaining : LongestWait);
        }
    }

    private async Task ReadAsync(TimeSpan wait)
    {
        var read = await driver.Capability<IGuestConsole>()!.ReadConsoleAsync(vm, Offset, ReadSize, wait, CancellationToken.None);
        Assert.True(read.Offset == Offset, $"a read from offset {Offset} started at {read.Offset}: the follower would {(read.Offset > Offset ? "skip" : "repeat")} {Math.Abs(read.Offset - Offset)} bytes");
        Assert.Equal(read.Offset + read.Data.Length, read.NextOffset);
        Offset = read.NextOffset;

        var chunk = Encoding.Latin1.GetString(read.Data);
        _text.Append(chunk);
        foreach (var c in chunk)
        {
            if (c == '\n')
            {
                _lines.Add(_partial.ToString().TrimEnd('\r'));
                _partial.Clear();
            }
            else
            {
                _partial.Append(c);
            }
        }
    }
}
