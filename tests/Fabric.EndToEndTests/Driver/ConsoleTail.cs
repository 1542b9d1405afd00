using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Follows one VM's console through <see cref="IGuestConsole.ReadConsoleAsync"/>, whose wait wakes on the
/// driver's console pulse (no polling, no sleeps), and hands out whole lines. Lines are consumed in order: a wait
/// for a pattern sees only lines after those already consumed.
/// </summary>
internal sealed class ConsoleTail(IHypervisorDriver driver, string vm)
{
    private const int ReadSize = 64 * 1024;

    private readonly IGuestConsole _console = driver.Capability<IGuestConsole>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no console");
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(1);

    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private readonly StringBuilder _partial = new();
    private readonly Queue<string> _unconsumed = new();
    private readonly List<string> _history = [];
    private long _offset;

    /// <summary>Consumes lines until one matches <paramref name="pattern"/>, and returns its match.</summary>
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            while (_unconsumed.TryDequeue(out var line))
            {
                if (pattern.Match(line) is { Success: true } match)
                {
                    return match;
                }
            }

            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"no console line of vm '{vm}' matched /{pattern}/ within {timeout.TotalSeconds:0.#} s. {Evidence()}");
            }

            if (!await ReadAsync(remaining < LongestWait ? remaining : LongestWait) && !driver.GetStatus(vm).IsAlive)
            {
                // One last look: the process may have written its final lines just before it ended.
                if (!await ReadAsync(TimeSpan.Zero) && _unconsumed.Count == 0)
                {
                    throw new InvalidOperationException($"vm '{vm}' ended while waiting for /{pattern}/. {Evidence()}");
                }
            }
        }
    }

    /// <summary>Consumes and returns every whole line that arrives within <paramref name="duration"/>.</summary>
    public async Task<IReadOnlyList<string>> CollectAsync(TimeSpan duration)
    {
        var deadline = DateTime.UtcNow + duration;
        for (var remaining = duration; remaining > TimeSpan.Zero; remaining = deadline - DateTime.UtcNow)
        {
            await ReadAsync(remaining < LongestWait ? remaining : LongestWait);
        }

        return TakeUnconsumed();
    }

    /// <summary>Consumes and returns the whole lines already written, without waiting for more.</summary>
    public async Task<IReadOnlyList<string>> DrainAsync()
    {
        while (await ReadAsync(TimeSpan.Zero))
        {
        }

        return TakeUnconsumed();
    }

    /// <summary>The last lines seen and the VM's status, for failure messages.</summary>
    public string Evidence() =>
        $"Status: {driver.GetStatus(vm)}. Last console lines:\n  " + string.Join("\n  ", _history.TakeLast(15)) + (_partial.Length > 0 ? $"\n  (partial) {_partial}" : "");

    private List<string> TakeUnconsumed()
    {
        var lines = _unconsumed.ToList();
        _unconsumed.Clear();
        return lines;
    }

    /// <returns>Whether any bytes arrived.</returns>
    private async Task<bool> ReadAsync(TimeSpan wait)
    {
        var read = await _console.ReadConsoleAsync(vm, _offset, ReadSize, wait, CancellationToken.None);
        if (read.Offset != _offset)
        {
            // The driver restarted us at the beginning of a new log (a new process): drop the half line of the old one.
            _partial.Clear();
            _decoder.Reset();
        }

        _offset = read.NextOffset;
        if (read.Data.Length == 0)
        {
            return false;
        }

        var chars = new char[_decoder.GetCharCount(read.Data, flush: false)];
        _decoder.GetChars(read.Data, chars, flush: false);
        foreach (var c in chars)
        {
            if (c == '\n')
            {
                var line = _partial.ToString().TrimEnd('\r');
                _partial.Clear();
                _unconsumed.Enqueue(line);
                _history.Add(line);
            }
            else
            {
                _partial.Append(c);
            }
        }

        return true;
    }
}
