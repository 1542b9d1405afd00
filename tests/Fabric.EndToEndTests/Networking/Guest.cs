using System.Text.RegularExpressions;

namespace Fabric.EndToEndTests.Networking;

/// <summary>What udhcpc was given.</summary>
internal sealed record Lease(string Ip, string Router, string Mtu);

/// <summary>A stand-in guest: a namespace with one NIC (eth0) on a realized bridge. QEMU guests are tested elsewhere.</summary>
internal sealed partial class Guest(NetworkLab lab, string ns, string mac)
{
    public string Namespace { get; } = ns;

    public string Mac { get; } = mac;

    /// <summary>busybox udhcpc: one lease, its address put on eth0; null when no server answered.</summary>
    public async Task<Lease?> DhcpAsync()
    {
        var ran = await Netns.RunAsync(Namespace, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-O", "mtu", "-s", lab.DhcpScript);
        var bound = Bound().Match(ran.Output);
        return ran.ExitCode == 0 && bound.Success ? new Lease(bound.Groups[1].Value, bound.Groups[2].Value, bound.Groups[3].Value) : null;
    }

    /// <summary>Drops eth0's addresses (before asking DHCP again).</summary>
    public Task FlushAsync() => Netns.CheckedAsync(Namespace, "ip", "address", "flush", "dev", "eth0");

    public async Task AddAddressAsync(string address) =>
        await Netns.CheckedAsync(Namespace, "ip", "address", "add", $"{address}/24", "dev", "eth0");

    /// <summary>A default route through the gateway, so that what is outside the network is really sent to the host.</summary>
    public async Task RouteThroughGatewayAsync() =>
        await Netns.CheckedAsync(Namespace, "ip", "route", "replace", "default", "via", NetworkLab.Gateway);

    /// <summary>True when at least one of a few echo requests is answered.</summary>
    public async Task<bool> PingsAsync(string address) =>
        (await Netns.RunAsync(Namespace, "ping", "-c", "3", "-i", "0.2", "-W", "1", address)).ExitCode == 0;

    /// <summary>True when a TCP connection to <paramref name="address"/>:<paramref name="port"/> opens (within a second).</summary>
    public async Task<bool> ConnectsAsync(string address, int port) =>
        (await Netns.RunAsync(Namespace, "busybox", "nc", "-w", "1", address, port.ToString(System.Globalization.CultureInfo.InvariantCulture))).ExitCode == 0;

    [GeneratedRegex("bound ip=(\\S+) router=(\\S*) mtu=(\\S*)")]
    private static partial Regex Bound();
}
