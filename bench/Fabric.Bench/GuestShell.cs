using System.Globalization;
using System.Text.RegularExpressions;
using Fabric.Client;

namespace Fabric.Bench;

/// <summary>
/// Commands typed into the linux guest's root shell through the fabric's console, each answered by a marker line
/// (as tests/Fabric.EndToEndTests/Driver/GuestShell.cs: <c>echo "__b7""_$?__"</c> prints <c>__b7_0__</c>, while the
/// shell's echo of the typed line shows <c>__b7""_$?__</c>, which the marker's pattern cannot match).
/// </summary>
internal sealed class GuestShell(FabricClient client, string vm, TimeSpan timeout)
{
    public string Vm => vm;

    /// <summary>Runs <paramref name="command"/> and returns its exit status.</summary>
    public async Task<int> RunAsync(string command, TimeSpan? within = null)
    {
        var tag = Tag();
        await client.SendConsoleAsync(vm, $"{command}; echo \"__{tag}\"\"_$?__\"");
        var status = await GuestConsole.WaitForAsync(client, vm, new Regex($"__{tag}_(?<v>\\d+)__"), within ?? timeout);
        return int.Parse(status, CultureInfo.InvariantCulture);
    }

    /// <summary>Runs <paramref name="command"/>; throws unless it exits 0.</summary>
    public async Task MustAsync(string command, TimeSpan? within = null)
    {
        var status = await RunAsync(command, within);
        if (status != 0)
        {
            throw new InvalidOperationException($"'{command}' exited {status} in vm {vm}");
        }
    }

    /// <summary>
    /// The value of a shell expression (e.g. <c>$(cat /sys/block/vda/size)</c>), read back from one line: it must not
    /// hold an underscore, and is printed by one <c>echo</c>, so no other console output (ticks) can split it.
    /// </summary>
    public async Task<string> ValueAsync(string expression, TimeSpan? within = null)
    {
        var tag = Tag();
        // The closing underscores stand apart (""), so an expression ending in a variable ($b) does not become $b__.
        await client.SendConsoleAsync(vm, $"echo \"__{tag}\"\"_{expression}\"\"__\"");
        return await GuestConsole.WaitForAsync(client, vm, new Regex($"__{tag}_(?<v>[^_]*)__"), within ?? timeout);
    }

    private static string Tag() => $"b{Random.Shared.Next():x}";
}

/// <summary>A VM's console through the fabric, followed until a line matches.</summary>
internal static partial class GuestConsole
{
    /// <summary>The linux guest's line once it is up.</summary>
    [GeneratedRegex(@"fabric-guest ready boot=[0-9a-f]+")]
    public static partial Regex Ready();

    /// <summary>
    /// Follows the VM's console (from its start) until <paramref name="count"/> lines have matched
    /// <paramref name="pattern"/>; returns the last match's group <c>v</c>, if any.
    /// </summary>
    public static async Task<string> WaitForAsync(FabricClient client, string vm, Regex pattern, TimeSpan timeout, int count = 1)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var seen = 0;
        try
        {
            await foreach (var line in client.ConsoleAsync(vm, follow: true, cancel.Token))
            {
                if (pattern.Match(line) is { Success: true } match && ++seen >= count)
                {
                    return match.Groups["v"].Value;
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Timed out: said below.
        }

        throw new TimeoutException($"vm {vm} printed {seen} of {count} lines matching '{pattern}' within {timeout.TotalSeconds:0} s");
    }
}
