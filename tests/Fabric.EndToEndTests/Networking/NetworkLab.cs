using System.Globalization;
using Fabric.EndToEndTests.Driver;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Networking;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Networking;

/// <summary>One host of a lab: its namespace on the underlay, its address there, and its network realizer.</summary>
internal sealed record LabHost(string Id, string Namespace, string Address, string DataDirectory, LinuxHostNetworks Networks, CapturingLogger<LinuxHostNetworks> Log);

/// <summary>
/// Two hosts as the real topology has them (deploy/local/underlay.sh: a namespace each, joined by a bridge, with
/// underlay addresses), a network realizer for each working in its host's namespace, and stand-in guests: more
/// namespaces, each with a veth whose other end the test puts on a realized bridge. Everything goes on dispose, after
/// a failure too: the underlay's removal kills what runs in its namespaces (dnsmasq, listeners) and takes the
/// guests' namespaces (named after its prefix) with it.
/// </summary>
internal sealed class NetworkLab : IAsyncDisposable
{
    public const string Cidr = "10.20.0.0/24";
    public const string Gateway = "10.20.0.1";
    public const int Mtu = 1400;

    private readonly List<ChildProcess> _processes = [];
    private int _guests;

    private NetworkLab(string directory, Underlay underlay)
    {
        Directory = directory;
        Underlay = underlay;
    }

    public string Directory { get; }

    public Underlay Underlay { get; }

    public LabHost A { get; private set; } = null!;

    public LabHost B { get; private set; } = null!;

    /// <summary>An underlay address no host has: a flood entry to it goes nowhere, and stays on the underlay's bridge.</summary>
    public string AbsentPeer => $"{Underlay.Subnet}.200";

    public string DhcpScript => Path.Combine(Directory, "udhcpc.sh");

    /// <summary>
    /// Prints a numbered line every 100 ms, for ever: the program of a long flow (<c>busybox nc HOST PORT -e</c> it,
    /// one process, so that killing it ends the flow; a shell pipeline would leave its loop behind).
    /// </summary>
    public string LineSourceScript => Path.Combine(Directory, "lines.sh");

    public static async Task<NetworkLab> StartAsync(ITestOutputHelper output)
    {
        // As a host silo is (QemuDriver makes it one): dnsmasq's daemonizing leftovers and the daemons, once ended,
        // come to this process, and the tests see that the realizer collects them.
        Processes.BecomeSubreaper();
        var directory = TestDirectories.Create();

        // dnsmasq reads its reservations as nobody: the folders above them must let others through.
        File.SetUnixFileMode(directory, (UnixFileMode)Convert.ToInt32("755", 8));
        Underlay underlay;
        try
        {
            underlay = await Underlay.CreateAsync(directory);
        }
        catch
        {
            System.IO.Directory.Delete(directory, recursive: true);
            throw;
        }

        var lab = new NetworkLab(directory, underlay);
        try
        {
            await File.WriteAllTextAsync(lab.DhcpScript, """
                #!/bin/sh
                if [ "$1" = bound ]; then
                  ip addr add "$ip/$mask" dev "$interface" || exit 1
                  echo "bound ip=$ip router=$router mtu=$mtu"
                fi
                exit 0
                """.Replace("\r", "", StringComparison.Ordinal) + "\n");
            File.SetUnixFileMode(lab.DhcpScript, (UnixFileMode)Convert.ToInt32("755", 8));
            await File.WriteAllTextAsync(lab.LineSourceScript, "#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo \"line$i\"; sleep 0.1; done\n");
            File.SetUnixFileMode(lab.LineSourceScript, (UnixFileMode)Convert.ToInt32("755", 8));
            lab.A = await lab.AddHostAsync("host-a", output);
            lab.B = await lab.AddHostAsync("host-b", output);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    /// <summary>A plan for <paramref name="host"/> with the lab's CIDR, gateway and MTU, the other host as its peer.</summary>
    public NetworkPlan Plan(LabHost host, int vni, bool dhcp = true, string name = "blue") =>
        new(name, vni, Cidr, Gateway, dhcp, Mtu, host.Address) { Peers = [Other(host).Address] };

    public LabHost Other(LabHost host) => host == A ? B : A;

    /// <summary>The pids of zombie dnsmasq processes whose parent is this (subreaper) process: what nobody collected.</summary>
    public static IReadOnlyList<int> UncollectedDnsmasqs() =>
    [
        .. System.IO.Directory.EnumerateDirectories("/proc")
            .Select(path => int.TryParse(Path.GetFileName(path), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0 && Stat(pid) is { } stat && stat.Contains("(dnsmasq) Z ", StringComparison.Ordinal)
                && stat.Split(") Z ")[1].Split(' ')[0] == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)),
    ];

    private static string? Stat(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// A guest namespace whose eth0 (MAC <paramref name="mac"/>, the network's MTU) is joined by a veth to
    /// <paramref name="bridge"/> in <paramref name="host"/>'s namespace.
    /// </summary>
    public async Task<Guest> AddGuestAsync(LabHost host, string bridge, string mac)
    {
        var number = Interlocked.Increment(ref _guests);
        var ns = $"{Underlay.Prefix}-g{number.ToString(CultureInfo.InvariantCulture)}";
        var veth = $"gv{number.ToString(CultureInfo.InvariantCulture)}";
        var mtu = Mtu.ToString(CultureInfo.InvariantCulture);
        await Netns.CheckedAsync(null, "ip", "netns", "add", ns);
        await Netns.CheckedAsync(null, "ip", "link", "add", veth, "netns", host.Namespace, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "netns", ns, "mtu", mtu);
        await Netns.CheckedAsync(host.Namespace, "ip", "link", "set", "dev", veth, "master", bridge, "up");
        await Netns.CheckedAsync(ns, "ip", "link", "set", "dev", "eth0", "address", mac, "up");
        await Netns.CheckedAsync(ns, "ip", "link", "set", "dev", "lo", "up");
        return new Guest(this, ns, mac);
    }

    /// <summary>Starts <paramref name="program"/> in namespace <paramref name="ns"/>; it is killed on dispose.</summary>
    public ChildProcess Start(string ns, string name, string program, params string[] arguments)
    {
        var process = ChildProcess.Start(
            "nsenter",
            [$"--net=/run/netns/{ns}", "--", program, .. arguments],
            new Dictionary<string, string>(),
            Path.Combine(Directory, "logs", $"{name}.log"));
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>A TCP server on every address of <paramref name="ns"/> that takes any number of connections and closes each at once.</summary>
    public async Task<ChildProcess> ListenAsync(string ns, int port)
    {
        var text = port.ToString(CultureInfo.InvariantCulture);
        var server = Start(ns, $"listen-{ns}-{text}", "busybox", "nc", "-ll", "-p", text, "-e", "/bin/true");
        await WaitListeningAsync(ns, port, server);
        return server;
    }

    /// <summary>Waits until something in <paramref name="ns"/> listens on TCP <paramref name="port"/>.</summary>
    public static Task WaitListeningAsync(string ns, int port, ChildProcess server) =>
        Netns.EventuallyAsync(
            async () => server.HasExited || (await Netns.CheckedAsync(ns, "ss", "-H", "-l", "-t", "-n", "sport", "=", $":{port.ToString(CultureInfo.InvariantCulture)}")).Trim().Length > 0,
            TimeSpan.FromSeconds(10),
            $"a listener on port {port} in {ns} (log: {server.LogPath})");

    /// <summary>
    /// A process in <paramref name="host"/>'s namespace that holds <paramref name="tap"/> open, as QEMU does a NIC's
    /// (it is QEMU, with no machine); the lab ends it.
    /// </summary>
    public async Task<ChildProcess> HoldTapAsync(LabHost host, string tap)
    {
        var holder = Start(host.Namespace, $"hold-{tap}", "qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none", "-S",
            "-netdev", $"tap,id=n0,ifname={tap},script=no,downscript=no");
        await Netns.EventuallyAsync(
            async () => holder.HasExited || (await Netns.LinkAsync(host.Namespace, tap))?.GetProperty("flags").EnumerateArray().Any(f => f.GetString() == "LOWER_UP") == true,
            TimeSpan.FromSeconds(15),
            $"QEMU holding {tap}");
        Assert.False(holder.HasExited, $"QEMU could not open {tap} (log: {holder.LogPath})");
        return holder;
    }

    public async ValueTask DisposeAsync()
    {
        List<ChildProcess> processes;
        lock (_processes)
        {
            processes = [.. _processes];
        }

        try
        {
            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }
        }
        finally
        {
            try
            {
                await Underlay.DisposeAsync();

                // The dnsmasqs the underlay's removal killed.
                Processes.ReapZombieChildren(["dnsmasq"], keep: []);
            }
            finally
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
        }
    }

    private async Task<LabHost> AddHostAsync(string id, ITestOutputHelper output)
    {
        var (ns, address) = await Underlay.AddHostAsync(id);
        var data = Path.Combine(Directory, id);
        System.IO.Directory.CreateDirectory(data);
        var log = new CapturingLogger<LinuxHostNetworks>(output);
        return new LabHost(id, ns, address, data, new LinuxHostNetworks(new HostNetworksOptions { DataDirectory = data, Namespace = ns }, log), log);
    }
}
