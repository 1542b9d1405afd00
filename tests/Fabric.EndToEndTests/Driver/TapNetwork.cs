using System.Globalization;
using Fabric.EndToEndTests.Storage;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// A network of a test's own: a network namespace <c>t?????-nic</c> (the test prefix <c>./fabric test</c> sweeps when
/// left behind) with a bridge, taps on it made on demand, optionally an address on the bridge and a DHCP server
/// (dnsmasq) bound to it, and the namespace's path, for <c>QemuDriverOptions.NetworkNamespace</c>.
/// Nothing of it is in the root namespace: no tap, no traffic. Disposing stops dnsmasq and deletes the namespace (with
/// its bridge and taps; a QEMU still inside keeps it alive until the sandbox ends it).
/// </summary>
internal sealed class TapNetwork : IAsyncDisposable
{
    public const string Bridge = "br0";

    /// <summary>The subnet inside the namespace (nothing outside it can see it).</summary>
    public const string Subnet = "10.77.0";

    private readonly string _directory;
    private int? _dnsmasq;

    private TapNetwork(string name, string directory)
    {
        Name = name;
        _directory = directory;
    }

    /// <summary>The namespace, <c>t&lt;5 hex&gt;-nic</c>.</summary>
    public string Name { get; }

    /// <summary>The namespace's path, for <c>QemuDriverOptions.NetworkNamespace</c>: the driver starts QEMU in it.</summary>
    public string NamespacePath => $"/run/netns/{Name}";


    /// <summary>The bridge's address, where dnsmasq answers (<see cref="StartDhcpAsync"/>).</summary>
    public static string Gateway => $"{Subnet}.1";

    /// <summary>Makes the namespace (loopback up, for a migration's stream inside it) and its bridge; files go in <paramref name="directory"/>.</summary>
    public static async Task<TapNetwork> CreateAsync(string directory)
    {
        var network = new TapNetwork(Underlay.NewPrefix() + "-nic", directory);
        await StorageTools.RunAsync("ip", "netns", "add", network.Name);
        try
        {
            await network.IpAsync("link", "set", "lo", "up");
            await network.IpAsync("link", "add", Bridge, "type", "bridge");
            await network.IpAsync("link", "set", Bridge, "up");
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }

        return network;
    }

    /// <summary>Makes a tap on the bridge, up (as the host's network realization would before a launch or hot-plug).</summary>
    public async Task AddTapAsync(string tap)
    {
        await IpAsync("tuntap", "add", "dev", tap, "mode", "tap");
        await IpAsync("link", "set", tap, "master", Bridge, "up");
    }

    /// <summary>The tap's flags as <c>ip link</c> shows them (e.g. <c>NO-CARRIER</c> once no QEMU holds it).</summary>
    public async Task<string> LinkAsync(string tap) => (await StorageTools.TryRunAsync("ip", "-n", Name, "-o", "link", "show", "dev", tap)).Output;

    /// <summary>
    /// Gives the bridge <see cref="Gateway"/>/24 and starts dnsmasq on it: DHCP only (<c>--port=0</c>: no DNS), static
    /// leases only (each MAC its reserved address), the given MTU offered (option 26).
    /// </summary>
    public async Task StartDhcpAsync(IReadOnlyDictionary<string, string> reservations, int mtu)
    {
        await IpAsync("addr", "add", $"{Gateway}/24", "dev", Bridge);
        var pidFile = Path.Combine(_directory, "dnsmasq.pid");
        List<string> arguments =
        [
            $"--net=/run/netns/{Name}", "dnsmasq",
            "--conf-file=/dev/null", "--port=0", "--bind-interfaces", $"--interface={Bridge}", "--except-interface=lo",
            $"--dhcp-range={Subnet}.0,static,255.255.255.0,1h",
            $"--dhcp-option=option:mtu,{mtu.ToString(CultureInfo.InvariantCulture)}",
            $"--pid-file={pidFile}", $"--dhcp-leasefile={Path.Combine(_directory, "dnsmasq.leases")}",
            $"--log-facility={Path.Combine(_directory, "dnsmasq.log")}", "--log-dhcp",
        ];
        arguments.AddRange(reservations.Select(r => $"--dhcp-host={r.Key},{r.Value}"));

        // dnsmasq daemonizes once it listens (the parent exits after the daemon reported a clean start); the daemon
        // writes its pid file.
        await StorageTools.RunAsync("nsenter", [.. arguments]);
        for (var attempt = 0; _dnsmasq is null; attempt++)
        {
            if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture, out var pid))
            {
                _dnsmasq = pid;
            }
            else if (attempt < 100)
            {
                await Task.Delay(20);
            }
            else
            {
                throw new InvalidOperationException($"dnsmasq wrote no pid file {pidFile}");
            }
        }
    }

    /// <summary>The bridge's forwarding entries it learned, as MAC → port (<c>bridge fdb show</c>).</summary>
    public async Task<IReadOnlyDictionary<string, string>> LearnedAsync()
    {
        var learned = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (await StorageTools.TryRunAsync("bridge", "-n", Name, "fdb", "show", "br", Bridge)).Output.Split('\n'))
        {
            // "52:54:00:0a:00:02 dev tap1 master br0" (learned); "… dev tap1 vlan 1 master br0 permanent" (the port's own).
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 3 && fields[1] == "dev" && !line.Contains("permanent", StringComparison.Ordinal) && !line.Contains("self", StringComparison.Ordinal))
            {
                learned[fields[0]] = fields[2];
            }
        }

        return learned;
    }

    /// <summary>Makes the bridge forget where <paramref name="mac"/> is.</summary>
    public Task<string> ForgetAsync(string mac, string tap) => StorageTools.RunAsync("bridge", "-n", Name, "fdb", "del", mac, "dev", tap, "master");

    public async ValueTask DisposeAsync()
    {
        if (_dnsmasq is { } pid)
        {
            await Processes.KillAndReapAsync(pid, TimeSpan.FromSeconds(5));
        }

        await StorageTools.TryRunAsync("ip", "netns", "del", Name);
    }

    private Task<string> IpAsync(params string[] arguments) => StorageTools.RunAsync("ip", ["-n", Name, .. arguments]);
}
