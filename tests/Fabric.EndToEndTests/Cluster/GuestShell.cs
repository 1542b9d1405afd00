using System.Text.RegularExpressions;
using Fabric.Client;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>
/// Runs shell commands in a <c>linux</c> guest through the fabric's console (<c>vm console --send</c>) and reads their
/// results back from the console log. Each command prints a marker line only its output can produce (the guest echoes
/// the typed line, in which <c>$?</c> and <c>$(…)</c> stay unexpanded), so the echo never matches.
/// </summary>
internal sealed class GuestShell(FabricClient client, string vm)
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);
    /// <summary>Runs <paramref name="command"/> and returns its exit status.</summary>
    public async Task<int> RunAsync(string command, TimeSpan? timeout = null)
    {
        var tag = NextTag();
        await client.SendConsoleAsync(vm, $"{command}; echo \"{tag} $?\"");
        var match = await new VmConsole(client, vm).WaitForAsync(new Regex($"^{tag} (\\d+)$"), timeout: timeout ?? DefaultTimeout);
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs <paramref name="command"/> and fails the test unless it exits 0.</summary>
    public async Task MustAsync(string command, TimeSpan? timeout = null)
    {
        var status = await RunAsync(command, timeout);
        Assert.True(status == 0, $"vm {vm}: '{command}' exited {status}");
    }

    /// <summary>The one-line output of <paramref name="command"/> (run in <c>$(…)</c>).</summary>
    public async Task<string> ReadAsync(string command, TimeSpan? timeout = null)
    {
        var tag = NextTag();
        await client.SendConsoleAsync(vm, $"echo \"{tag} [$({command})]\"");
        var match = await new VmConsole(client, vm).WaitForAsync(new Regex($"^{tag} \\[(.*)\\]$"), timeout: timeout ?? DefaultTimeout);
        return match.Groups[1].Value;
    }

    private static string NextTag() => $"@@{Guid.NewGuid():N}";
}
