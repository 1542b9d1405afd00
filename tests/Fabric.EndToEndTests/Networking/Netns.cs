using System.Diagnostics;
using System.Text.Json;

namespace Fabric.EndToEndTests.Networking;

/// <summary>What a command printed and how it ended.</summary>
internal sealed record Ran(int ExitCode, string Output, string Error)
{
    public Ran EnsureSuccess(string what) =>
        ExitCode == 0 ? this : throw new InvalidOperationException($"{what} failed with exit code {ExitCode}: {Error.Trim()} {Output.Trim()}");
}

/// <summary>Runs tools inside a named network namespace (<c>nsenter --net</c>), or in the root one, and reads what they report.</summary>
internal static class Netns
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<Ran> RunAsync(string? ns, string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(ns is null ? program : "nsenter")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (ns is not null)
        {
            startInfo.ArgumentList.Add($"--net=/run/netns/{ns}");
            startInfo.ArgumentList.Add("--");
            startInfo.ArgumentList.Add(program);
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} in {ns ?? "the root namespace"} did not finish within {Timeout.TotalSeconds:0} s");
        }

        // A child it left behind could keep the pipes open for ever.
        await Task.WhenAll(output, error).WaitAsync(Timeout);
        return new Ran(process.ExitCode, await output, await error);
    }

    public static async Task<string> CheckedAsync(string? ns, string program, params string[] arguments) =>
        (await RunAsync(ns, program, arguments)).EnsureSuccess($"{program} {string.Join(' ', arguments)} in {ns}").Output;

    /// <summary>The device <paramref name="name"/> as <c>ip -j -d address show</c> reports it, or null when there is none.</summary>
    public static async Task<JsonElement?> LinkAsync(string ns, string name)
    {
        var ran = await RunAsync(ns, "ip", "-j", "-d", "address", "show", "dev", name);
        if (ran.ExitCode != 0)
        {
            return null;
        }

        using var document = JsonDocument.Parse(ran.Output);
        return document.RootElement[0].Clone();
    }

    /// <summary>The names of every device of the namespace.</summary>
    public static async Task<IReadOnlyList<string>> LinkNamesAsync(string ns)
    {
        using var document = JsonDocument.Parse(await CheckedAsync(ns, "ip", "-j", "link", "show"));
        return [.. document.RootElement.EnumerateArray().Select(link => link.GetProperty("ifname").GetString()!)];
    }

    public static async Task<int> IndexAsync(string ns, string name) =>
        (await LinkAsync(ns, name) ?? throw new InvalidOperationException($"{name} is missing in {ns}")).GetProperty("ifindex").GetInt32();

    /// <summary>The flood list of a VXLAN device: the destinations of its all-zero MAC entries, sorted.</summary>
    public static async Task<IReadOnlyList<string>> FloodAsync(string ns, string vxlan)
    {
        using var document = JsonDocument.Parse(await CheckedAsync(ns, "bridge", "-j", "fdb", "show", "dev", vxlan));
        return
        [
            .. document.RootElement.EnumerateArray()
                .Where(entry => entry.GetProperty("mac").GetString() == "00:00:00:00:00:00")
                .Select(entry => entry.GetProperty("dst").GetString()!)
                .Order(StringComparer.Ordinal),
        ];
    }

    /// <summary>"family name" of every nftables table of the namespace.</summary>
    public static async Task<IReadOnlyList<string>> TablesAsync(string ns)
    {
        using var document = JsonDocument.Parse(await CheckedAsync(ns, "nft", "-j", "list", "tables"));
        return
        [
            .. document.RootElement.GetProperty("nftables").EnumerateArray()
                .Where(item => item.TryGetProperty("table", out _))
                .Select(item => $"{item.GetProperty("table").GetProperty("family").GetString()} {item.GetProperty("table").GetProperty("name").GetString()}")
                .Order(StringComparer.Ordinal),
        ];
    }

    public static async Task<string> SysctlAsync(string ns, string key) => (await CheckedAsync(ns, "sysctl", "-n", key)).Trim();

    /// <summary>Polls <paramref name="condition"/> until it holds; fails saying <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(50);
        }
    }
}
