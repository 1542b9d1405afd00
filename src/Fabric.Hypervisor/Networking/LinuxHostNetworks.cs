using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// <see cref="IHostNetworks"/> with Linux devices, nftables and dnsmasq (see docs/networks.md). Every call reads the
/// machine first and changes only what differs from the plan; nothing is remembered between calls but one lock per
/// network, which serializes the calls for that network (different networks go in parallel).
/// </summary>
public sealed partial class LinuxHostNetworks : IHostNetworks
{
    /// <summary>The IANA VXLAN port.</summary>
    public const int VxlanPort = 4789;

    /// <summary>How long the bridges keep a learned MAC: Linux's default of 300 s, in the centiseconds <c>ip link</c> takes.</summary>
    public const int AgeingTimeCentiseconds = 30000;

    private const string ZeroMac = "00:00:00:00:00:00";

    private readonly string _dataDirectory;
    private readonly HostCommands _commands;
    private readonly ILogger<LinuxHostNetworks> _logger;
    private readonly ConcurrentDictionary<int, SemaphoreSlim> _gates = new();

    public LinuxHostNetworks(HostNetworksOptions options, ILogger<LinuxHostNetworks> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        var dataDirectory = options.DataDirectory;
        if (string.IsNullOrEmpty(dataDirectory) || !Path.IsPathFullyQualified(dataDirectory) || dataDirectory.Any(char.IsControl))
        {
            throw new HypervisorException(
                HypervisorErrorKind.InvalidRequest,
                $"dataDirectory '{dataDirectory}' must be an absolute path without control characters (dnsmasq's configuration names it)");
        }

        if (options.Namespace is { } name && !NamespaceName().IsMatch(name))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"namespace '{name}' is not a network namespace name (a-z, A-Z, 0-9, '_', '-', '.')");
        }

        _dataDirectory = Path.GetFullPath(dataDirectory);
        _commands = new HostCommands(options.Namespace);
        _logger = logger;
    }

    public async Task<RealizedNetwork> RealizeAsync(NetworkPlan plan, CancellationToken cancellationToken)
    {
        var valid = ValidPlan.From(plan);
        var gate = Gate(valid.Vni);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The tables first: they name the devices (which need not exist yet), so no device is ever up without them.
            await _commands.ApplyRulesetAsync(NftRuleset.Replace(valid), $"tables of network {Describe(valid)}", cancellationToken).ConfigureAwait(false);
            var bridgeChanged = await RealizeDevicesAsync(valid, cancellationToken).ConfigureAwait(false);
            await RealizeFloodAsync(valid, cancellationToken).ConfigureAwait(false);
            if (valid.Dhcp)
            {
                await RealizeDhcpAsync(valid, bridgeChanged, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await RemoveDhcpAsync(valid.Vni, Describe(valid), thorough: false).ConfigureAwait(false);
            }

            var links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
            return await DescribeAsync(valid.Vni, links, cancellationToken).ConfigureAwait(false)
                ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"network {Describe(valid)}: bridge {valid.Bridge} vanished while it was realized");
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task RemovePortAsync(int vni, string tap, bool evenInUse, CancellationToken cancellationToken)
    {
        NetworkNames.EnsureVni(vni);
        NetworkNames.EnsureTap(tap, "tap");
        var gate = Gate(vni);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
            if (!links.TryGetValue(tap, out var link))
            {
                return;
            }

            var bridge = NetworkNames.Bridge(vni);
            if (!link.IsTap)
            {
                throw Conflict($"device {tap} is not a tap ({link.Kind ?? "no kind"}); it is not network vni {vni}'s to remove");
            }

            if (link.Master is { } master && master != bridge)
            {
                throw Conflict($"tap {tap} is on {master}, not on {bridge} (network vni {vni})");
            }

            if (!evenInUse && InUse(link))
            {
                throw Conflict($"tap {tap} of network vni {vni} is in use: a process holds it open");
            }

            await _commands.RunAsync("ip", ["link", "del", "dev", tap], cancellationToken).ConfigureAwait(false);
            var network = $"vni {vni}";
            LogDeviceRemoved(network, "tap", tap);
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task RemoveAsync(int vni, CancellationToken cancellationToken)
    {
        NetworkNames.EnsureVni(vni);
        var gate = Gate(vni);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var network = $"vni {vni}";
            var bridge = NetworkNames.Bridge(vni);
            var vxlan = NetworkNames.Vxlan(vni);
            var links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
            var taps = links.Values.Where(link => link.Master == bridge && link.IsTap).OrderBy(link => link.Name, StringComparer.Ordinal).ToList();
            var inUse = taps.Where(InUse).Select(link => link.Name).ToList();
            if (inUse.Count > 0)
            {
                throw Conflict($"network {network}: tap(s) {string.Join(", ", inUse)} in use (a process holds them open); nothing was removed");
            }

            await RemoveDhcpAsync(vni, network, thorough: true).ConfigureAwait(false);
            await _commands.ApplyRulesetAsync(NftRuleset.Delete(vni), $"removal of network {network}'s tables", cancellationToken).ConfigureAwait(false);

            // Taps first and the bridge last: an interrupted removal leaves the bridge, by which a retry finds the rest.
            var removals = taps.Select(link => ("tap", link.Name)).ToList();
            if (links.ContainsKey(vxlan))
            {
                removals.Add(("vxlan", vxlan));
            }

            if (links.TryGetValue(bridge, out var bridgeLink) && bridgeLink.Kind == "bridge")
            {
                removals.Add(("bridge", bridge));
            }

            foreach (var (kind, name) in removals)
            {
                await _commands.RunAsync("ip", ["link", "del", "dev", name], cancellationToken).ConfigureAwait(false);
                LogDeviceRemoved(network, kind, name);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task<IReadOnlyList<RealizedNetwork>> ObserveAsync(CancellationToken cancellationToken)
    {
        var links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
        var networks = new List<RealizedNetwork>();
        foreach (var vni in links.Values.Where(link => link.Kind == "bridge").Select(link => NetworkNames.VniOfBridge(link.Name)).OfType<int>().Order())
        {
            if (await DescribeAsync(vni, links, cancellationToken).ConfigureAwait(false) is { } network)
            {
                networks.Add(network);
            }
        }

        return networks;
    }

    /// <summary>
    /// Makes the bridge, VXLAN device and taps agree with the plan: what is missing is made (down), IPv6 is turned off
    /// on each, then MTU, bridge port, address and state are set where they differ. True when the bridge was made or
    /// got its address now (dnsmasq, bound to the bridge, is then started again).
    /// </summary>
    private async Task<bool> RealizeDevicesAsync(ValidPlan plan, CancellationToken cancellationToken)
    {
        var network = Describe(plan);
        var links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
        var changes = new List<string>();
        var made = new List<(string Kind, string Name)>();
        var replaced = new List<(string Kind, string Name)>();

        // Every conflict is found before anything changes.
        var bridgeMade = false;
        if (!links.TryGetValue(plan.Bridge, out var bridge))
        {
            changes.Add($"link add name {plan.Bridge} mtu {plan.Mtu} type bridge stp_state 0 ageing_time {AgeingTimeCentiseconds}");
            made.Add(("bridge", plan.Bridge));
            bridgeMade = true;
        }
        else if (bridge.Kind != "bridge")
        {
            throw Conflict($"network {network}: device {plan.Bridge} exists and is not a bridge ({bridge.Kind ?? "no kind"})");
        }

        if (links.TryGetValue(plan.Vxlan, out var vxlan) && vxlan.Kind != "vxlan")
        {
            throw Conflict($"network {network}: device {plan.Vxlan} exists and is not a VXLAN device ({vxlan.Kind ?? "no kind"})");
        }

        if (vxlan is not null && !IsVxlanOf(vxlan, plan))
        {
            // VNI, source address and port cannot be changed in place.
            changes.Add($"link del dev {plan.Vxlan}");
            replaced.Add(("vxlan", plan.Vxlan));
            vxlan = null;
        }

        if (vxlan is null)
        {
            changes.Add($"link add name {plan.Vxlan} mtu {plan.Mtu} type vxlan id {plan.Vni} local {plan.LocalAddress} dstport {VxlanPort} learning");
            made.Add(("vxlan", plan.Vxlan));
        }

        foreach (var port in plan.Ports)
        {
            if (!links.TryGetValue(port.Tap, out var tap))
            {
                changes.Add($"tuntap add dev {port.Tap} mode tap");
                made.Add(("tap", port.Tap));
            }
            else if (!tap.IsTap)
            {
                throw Conflict($"network {network}: device {port.Tap} exists and is not a tap ({tap.Kind ?? "no kind"})");
            }
            else if (tap.Master is { } master && master != plan.Bridge)
            {
                throw Conflict($"network {network}: tap {port.Tap} is on {master}, not on {plan.Bridge}");
            }
        }

        await _commands.RunBatchAsync("ip", changes, cancellationToken).ConfigureAwait(false);
        foreach (var (kind, name) in replaced)
        {
            LogDeviceRemoved(network, kind, name);
        }

        foreach (var (kind, name) in made)
        {
            LogDeviceMade(network, kind, name);
        }

        await SetSysctlsAsync(plan, cancellationToken).ConfigureAwait(false);
        if (changes.Count > 0)
        {
            links = await ReadLinksAsync(cancellationToken).ConfigureAwait(false);
        }

        var settings = Settings(plan, links, out var addressAdded);
        await _commands.RunBatchAsync("ip", settings, cancellationToken).ConfigureAwait(false);
        return bridgeMade || addressAdded;
    }

    /// <summary>The <c>ip</c> batch that sets what differs: ports (MTU, bridge, up), then the bridge (MTU, address, up).</summary>
    private static List<string> Settings(ValidPlan plan, IReadOnlyDictionary<string, Link> links, out bool addressAdded)
    {
        var lines = new List<string>();
        var bridge = Find(links, plan.Bridge);
        if (bridge.Number("stp_state") != 0 || bridge.Number("ageing_time") != AgeingTimeCentiseconds)
        {
            lines.Add($"link set dev {plan.Bridge} type bridge stp_state 0 ageing_time {AgeingTimeCentiseconds}");
        }

        foreach (var port in plan.Ports.Select(p => p.Tap).Prepend(plan.Vxlan))
        {
            var link = Find(links, port);
            if (link.Mtu != plan.Mtu)
            {
                lines.Add($"link set dev {port} mtu {plan.Mtu}");
            }

            if (link.Master != plan.Bridge)
            {
                lines.Add($"link set dev {port} master {plan.Bridge}");
            }

            if (!link.Up)
            {
                lines.Add($"link set dev {port} up");
            }
        }

        // A port's MTU above the bridge's lowers it: the bridge's own comes after its ports'.
        if (bridge.Mtu != plan.Mtu)
        {
            lines.Add($"link set dev {plan.Bridge} mtu {plan.Mtu}");
        }

        LinkAddress? wanted = plan.Dhcp ? new LinkAddress(plan.Gateway.ToString(), plan.Cidr.Length) : null;
        foreach (var address in bridge.Ipv4Addresses.Where(address => address != wanted))
        {
            // What the machine says goes back to it only in a form checked here.
            if (Ipv4Address.TryParse(address.Address, out var ip) && address.PrefixLength is >= 0 and <= 32)
            {
                lines.Add($"address del {ip}/{address.PrefixLength} dev {plan.Bridge}");
            }
        }

        addressAdded = wanted is not null && !bridge.Ipv4Addresses.Contains(wanted);
        if (addressAdded)
        {
            lines.Add($"address add {wanted} dev {plan.Bridge}");
        }

        if (!bridge.Up)
        {
            lines.Add($"link set dev {plan.Bridge} up");
        }

        return lines;
    }

    /// <summary>
    /// IPv6 off on the network's devices (no link-local address, nothing of the host reachable over IPv6), and bridged
    /// traffic through the inet hooks (bridge netfilter), which the rules depend on. Both per namespace.
    /// </summary>
    private Task<string> SetSysctlsAsync(ValidPlan plan, CancellationToken cancellationToken)
    {
        List<string> settings = ["net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1"];
        if (Directory.Exists("/proc/sys/net/ipv6"))
        {
            settings.AddRange(plan.Ports.Select(p => p.Tap).Prepend(plan.Vxlan).Prepend(plan.Bridge).Select(device => $"net.ipv6.conf.{device}.disable_ipv6=1"));
        }

        return _commands.RunAsync("sysctl", ["-q", "-w", .. settings], cancellationToken);
    }

    /// <summary>Flood entries (the all-zero MAC) on the VXLAN device for exactly the plan's peers.</summary>
    private async Task RealizeFloodAsync(ValidPlan plan, CancellationToken cancellationToken)
    {
        var current = await ReadFloodAsync(plan.Vxlan, cancellationToken).ConfigureAwait(false);
        var wanted = plan.Peers.Select(peer => peer.ToString()).ToList();
        var added = wanted.Except(current, StringComparer.Ordinal).ToList();
        var removed = current.Except(wanted, StringComparer.Ordinal).ToList();
        var lines = added.Select(peer => $"fdb append {ZeroMac} dev {plan.Vxlan} dst {peer}")
            .Concat(removed.Select(peer => $"fdb del {ZeroMac} dev {plan.Vxlan} dst {peer}"))
            .ToList();
        await _commands.RunBatchAsync("bridge", lines, cancellationToken).ConfigureAwait(false);
        if (lines.Count > 0)
        {
            var network = Describe(plan);
            LogPeersChanged(network, added, removed);
        }
    }

    private async Task<RealizedNetwork?> DescribeAsync(int vni, IReadOnlyDictionary<string, Link> links, CancellationToken cancellationToken)
    {
        var bridge = NetworkNames.Bridge(vni);
        if (!links.TryGetValue(bridge, out var link) || link.Kind != "bridge")
        {
            return null;
        }

        var taps = links.Values
            .Where(l => l.Master == bridge && l.IsTap)
            .OrderBy(l => l.Name, StringComparer.Ordinal)
            .Select(l => new RealizedPort(l.Name, InUse(l)))
            .ToImmutableArray();
        var vxlan = NetworkNames.Vxlan(vni);
        var peers = links.TryGetValue(vxlan, out var vxlanLink) && vxlanLink.Kind == "vxlan"
            ? await ReadFloodAsync(vxlan, cancellationToken).ConfigureAwait(false)
            : [];
        return new RealizedNetwork(vni, bridge, taps, peers, FindDnsmasq(Files(vni), thorough: false));
    }

    /// <summary>
    /// A process holds the tap open: its carrier is on while it is up (a persistent tap has none until a process
    /// attaches); a tap found down has no carrier to read, so /proc is asked.
    /// </summary>
    private bool InUse(Link tap) => tap.Up ? tap.LowerUp : TapHolders.AnyHolds(tap.Name, TapHolders.NamespaceIdentity(_commands.Namespace));

    private async Task<IReadOnlyDictionary<string, Link>> ReadLinksAsync(CancellationToken cancellationToken) =>
        Links.Parse(await _commands.RunAsync("ip", ["-j", "-d", "address", "show"], cancellationToken).ConfigureAwait(false));

    /// <summary>The flood list of <paramref name="vxlan"/> (empty when the device is missing), IPv4 first, in address order.</summary>
    private async Task<ImmutableArray<string>> ReadFloodAsync(string vxlan, CancellationToken cancellationToken)
    {
        var result = await _commands.TryRunAsync("bridge", ["-j", "fdb", "show", "dev", vxlan], input: null, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            return [];
        }

        // What the machine says goes back to it (fdb del) only in a form checked here.
        var destinations = new List<(uint Order, string Text)>();
        foreach (var destination in Links.FloodDestinations(result.Output))
        {
            if (Ipv4Address.TryParse(destination, out var ip))
            {
                destinations.Add((ip.Value, ip.ToString()));
            }
            else if (IPAddress.TryParse(destination, out var other))
            {
                destinations.Add((uint.MaxValue, other.ToString()));
            }
        }

        return [.. destinations.OrderBy(d => d.Order).ThenBy(d => d.Text, StringComparer.Ordinal).Select(d => d.Text)];
    }

    private static bool IsVxlanOf(Link vxlan, ValidPlan plan) =>
        vxlan.Number("id") == plan.Vni
        && vxlan.String("local") == plan.LocalAddress.ToString()
        && vxlan.Number("port") == VxlanPort
        && vxlan.Boolean("learning") == true;

    private static Link Find(IReadOnlyDictionary<string, Link> links, string name) =>
        links.TryGetValue(name, out var link)
            ? link
            : throw new HypervisorException(HypervisorErrorKind.Failed, $"device {name} is missing right after it was made");

    private SemaphoreSlim Gate(int vni) => _gates.GetOrAdd(vni, _ => new SemaphoreSlim(1, 1));

    private DnsmasqFiles Files(int vni) => new(_dataDirectory, vni);

    private static string Describe(ValidPlan plan) => $"{plan.Name} (vni {plan.Vni})";

    private static HypervisorException Conflict(string message) => new(HypervisorErrorKind.Conflict, message);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamespaceName();
}
