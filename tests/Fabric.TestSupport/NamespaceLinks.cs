using System.Diagnostics;
using System.Text.Json;

namespace Fabric.TestSupport;

/// <summary>A network device in a namespace, as <c>ip -j -d link show</c> reports it.</summary>
/// <param name="Name">The device's name.</param>
/// <param name="Kind">Its type (<c>bridge</c>, <c>vxlan</c>, <c>tun</c>, <c>veth</c>, …; empty for a plain device).</param>
/// <param name="Master">The bridge it is a port of, if any.</param>
public sealed record NamespaceLink(string Name, string Kind, string? Master);

/// <summary>Reads the devices of a network namespace (tests check what the hosts realized against the records).</summary>
public static class NamespaceLinks
{
    public static async Task<IReadOnlyList<NamespaceLink>> ReadAsync(string @namespace)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-n", @namespace, "-j", "-d", "link", "show" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ip did not start");
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip -n {@namespace} link show failed: {error.Trim()}");
        }

        using var json = JsonDocument.Parse(output);
        return [.. json.RootElement.EnumerateArray().Select(link => new NamespaceLink(
            link.GetProperty("ifname").GetString()!,
            link.TryGetProperty("linkinfo", out var info) && info.TryGetProperty("info_kind", out var kind) ? kind.GetString() ?? "" : "",
            link.TryGetProperty("master", out var master) ? master.GetString() : null))];
    }
}
