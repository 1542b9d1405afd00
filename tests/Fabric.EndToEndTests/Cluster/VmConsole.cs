using System.Text.RegularExpressions;
using Fabric.Client;
using Fabric.EndToEndTests.Driver;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>Reads a VM's serial console through the fabric, from the start of its log, and answers questions about the guest protocol.</summary>
internal sealed partial class VmConsole(FabricClient client, string vm)
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Every console line so far (one read, not following).</summary>
    public async Task<List<string>> LinesAsync()
    {
        var lines = new List<string>();
        await foreach (var line in client.ConsoleAsync(vm, follow: false))
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>Follows the console until a line matches <paramref name="pattern"/> (and <paramref name="accept"/>).</summary>
    public async Task<Match> WaitForAsync(Regex pattern, Func<Match, bool>? accept = null, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await foreach (var line in client.ConsoleAsync(vm, follow: true, cancel.Token))
            {
                var match = pattern.Match(line);
                if (match.Success && (accept?.Invoke(match) ?? true))
                {
                    return match;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        var seen = await LinesAsync();
        var kernel = seen.Where(line => KernelMessage().IsMatch(line)).Take(40).ToList();
        throw new TimeoutException($"vm {vm}: no console line matching {pattern} within {(timeout ?? DefaultTimeout).TotalSeconds:0} s; last lines:\n{string.Join('\n', seen.TakeLast(10))}" +
            (kernel.Count > 0 ? $"\nthe guest kernel's first messages in this log (an oops starts here):\n{string.Join('\n', kernel)}" : ""));
    }

    /// <summary>A kernel log line on the console (<c>[   39.438554] …</c>): with <c>quiet</c>, only errors and oopses get there.</summary>
    [GeneratedRegex(@"^\[\s*\d+\.\d+\] ")]
    private static partial Regex KernelMessage();

    /// <summary>The boot id of the guest's latest ready line.</summary>
    public async Task<string> WaitForReadyAsync(TimeSpan? timeout = null) => (await WaitForAsync(GuestConsole.Ready(), timeout: timeout)).Boot();

    /// <summary>Waits for a tick of <paramref name="bootId"/> numbered above <paramref name="after"/>; returns its number.</summary>
    public async Task<int> WaitForTickAsync(string bootId, int after = 0, TimeSpan? timeout = null) =>
        (await WaitForAsync(GuestConsole.Tick(), m => m.Boot() == bootId && m.Count() > after, timeout)).Count();

    /// <summary>The ready lines and ticks in the log so far.</summary>
    public async Task<(List<string> ReadyBoots, List<(int N, string Boot)> Ticks)> ProtocolAsync()
    {
        var lines = await LinesAsync();
        return (
            lines.Select(l => GuestConsole.Ready().Match(l)).Where(m => m.Success).Select(m => m.Boot()).ToList(),
            lines.Select(l => GuestConsole.Tick().Match(l)).Where(m => m.Success).Select(m => (m.Count(), m.Boot())).ToList());
    }
}
