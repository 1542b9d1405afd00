using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Fabric.EndToEndTests.Script;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Networking;

/// <summary>
/// <see cref="Fabric.Hypervisor.Networking.LinuxHostNetworks"/> on two hosts of a real underlay (one namespace each),
/// with stand-in guests (namespaces on veths) on the bridges it makes: reachability over VXLAN, DHCP from each host's
/// own dnsmasq, isolation, rules, level-triggered repair and removal.
/// </summary>
public sealed class HostNetworksTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Vni = 0x001001;
    private const int OtherVni = 0x001002;
    private const string Bridge = "fb001001";
    private const string Vxlan = "fx001001";
    private const string MacA = "02:00:00:00:0a:01";
    private const string MacB = "02:00:00:00:0b:01";
    private const string MacC = "02:00:00:00:0a:02";

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    private NetworkLab? _lab;

    private NetworkLab Lab => _lab ?? throw new InvalidOperationException("the lab did not start");

    public async Task InitializeAsync()
    {
        if (Underlay.UnavailableReason is null)
        {
            _lab = await NetworkLab.StartAsync(output);
        }
    }

    public async Task DisposeAsync()
    {
        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }
    }

    [RootFact]
    public async Task Realize_OnTwoHosts_GuestsReachEachOtherOverVxlan_AndObserveReadsTheMachine()
    {
        var (a, b) = (Lab.A, Lab.B);

        // The plan may name this host among the peers: it gets no flood entry to itself.
        var realizedA = await a.Networks.RealizeAsync(
            Lab.Plan(a, Vni) with { Peers = [b.Address, a.Address], Ports = [new("vm1n0", MacA)] }, CancellationToken.None);
        var realizedB = await b.Networks.RealizeAsync(Lab.Plan(b, Vni) with { Ports = [new("vm2n0", MacB)] }, CancellationToken.None);

        Assert.Equal((Vni, Bridge), (realizedA.Vni, realizedA.Bridge));
        Assert.Equal(new[] { new RealizedPort("vm1n0", false) }, realizedA.Taps.ToArray());
        Assert.Equal(new[] { b.Address }, realizedA.Peers.ToArray());
        Assert.Equal(new[] { a.Address }, realizedB.Peers.ToArray());
        Assert.NotNull(realizedA.DhcpPid);
        Assert.Equal(a.Namespace, NetworkNamespaces.Of(realizedA.DhcpPid.Value));
        Assert.Equal(b.Namespace, NetworkNamespaces.Of(realizedB.DhcpPid!.Value));

        Assert.Empty(NetworkLab.UncollectedDnsmasqs());
        var observed = Assert.Single(await a.Networks.ObserveAsync(CancellationToken.None));
        Assert.Equal((Vni, Bridge, realizedA.DhcpPid), (observed.Vni, observed.Bridge, observed.DhcpPid));
        Assert.Equal(realizedA.Taps.ToArray(), observed.Taps.ToArray());
        Assert.Equal(realizedA.Peers.ToArray(), observed.Peers.ToArray());

        // The devices as the plan says: MTU, ports, the gateway on the bridge (DHCP is on), no IPv6, no STP.
        var bridge = (await Netns.LinkAsync(a.Namespace, Bridge))!.Value;
        Assert.Equal(NetworkLab.Mtu, bridge.GetProperty("mtu").GetInt32());
        Assert.Equal([$"inet {NetworkLab.Gateway}/24"], Addresses(bridge));
        Assert.Equal(0, bridge.GetProperty("linkinfo").GetProperty("info_data").GetProperty("stp_state").GetInt32());
        var vxlan = (await Netns.LinkAsync(a.Namespace, Vxlan))!.Value;
        var vxlanData = vxlan.GetProperty("linkinfo").GetProperty("info_data");
        Assert.Equal((Vni, a.Address, 4789, true), (vxlanData.GetProperty("id").GetInt32(), vxlanData.GetProperty("local").GetString(), vxlanData.GetProperty("port").GetInt32(), vxlanData.GetProperty("learning").GetBoolean()));
        foreach (var port in new[] { vxlan, (await Netns.LinkAsync(a.Namespace, "vm1n0"))!.Value })
        {
            Assert.Equal((NetworkLab.Mtu, Bridge), (port.GetProperty("mtu").GetInt32(), port.GetProperty("master").GetString()));
            Assert.Empty(Addresses(port));
        }

        Assert.Equal("1", await Netns.SysctlAsync(a.Namespace, "net.ipv6.conf.vm1n0.disable_ipv6"));
        Assert.Equal("1", await Netns.SysctlAsync(a.Namespace, "net.bridge.bridge-nf-call-iptables"));
        Assert.Equal("0", await Netns.SysctlAsync(a.Namespace, "net.ipv4.ip_forward"));
        Assert.Equal(["bridge fabnet-001001", "inet fabnet-001001"], await Netns.TablesAsync(a.Namespace));

        var guestA = await Lab.AddGuestAsync(a, Bridge, MacA);
        var guestB = await Lab.AddGuestAsync(b, Bridge, MacB);
        await guestA.AddAddressAsync("10.20.0.10");
        await guestB.AddAddressAsync("10.20.0.11");
        Assert.True(await guestA.PingsAsync("10.20.0.11"), "a guest on host A pings one on host B over VXLAN");
    }

    [RootFact]
    public async Task Dhcp_GivesEachGuestItsReservedAddress_FromItsOwnHostsDnsmasq()
    {
        var (a, b) = (Lab.A, Lab.B);
        DhcpReservation[] reservations = [new(MacA, "10.20.0.10"), new(MacB, "10.20.0.11")];
        var realizedA = await a.Networks.RealizeAsync(Lab.Plan(a, Vni) with { Reservations = [.. reservations] }, CancellationToken.None);
        await b.Networks.RealizeAsync(Lab.Plan(b, Vni) with { Reservations = [.. reservations] }, CancellationToken.None);
        var guestA = await Lab.AddGuestAsync(a, Bridge, MacA);
        var guestB = await Lab.AddGuestAsync(b, Bridge, MacB);

        Assert.Equal(new Lease("10.20.0.10", NetworkLab.Gateway, "1400"), await guestA.DhcpAsync());
        Assert.Equal(new Lease("10.20.0.11", NetworkLab.Gateway, "1400"), await guestB.DhcpAsync());

        // Both dnsmasqs hold every reservation and the same gateway address; each answered only its own host's guest.
        Assert.Equal([MacA], LeasedMacs(a));
        Assert.Equal([MacB], LeasedMacs(b));

        // A reservation added: dnsmasq re-reads them (SIGHUP), not restarted.
        var more = await a.Networks.RealizeAsync(
            Lab.Plan(a, Vni) with { Reservations = [.. reservations, new(MacC, "10.20.0.12")] }, CancellationToken.None);
        Assert.Equal(realizedA.DhcpPid, more.DhcpPid);
        var guestC = await Lab.AddGuestAsync(a, Bridge, MacC);
        Assert.Equal("10.20.0.12", (await guestC.DhcpAsync())?.Ip);

        // A reservation moved to another address: the old lease (which never ends) would keep the new one from its
        // NIC, so dnsmasq is started again without it.
        var moved = await a.Networks.RealizeAsync(
            Lab.Plan(a, Vni) with { Reservations = [new(MacA, "10.20.0.14"), reservations[1], new(MacC, "10.20.0.12")] }, CancellationToken.None);
        Assert.NotEqual(realizedA.DhcpPid, moved.DhcpPid);
        Assert.False(Processes.IsAlive(realizedA.DhcpPid!.Value));
        await guestA.FlushAsync();
        Assert.Equal("10.20.0.14", (await guestA.DhcpAsync())?.Ip);
    }

    [RootFact]
    public async Task Isolation_NetworksWithOneCidrNeverMeet_AndGuestsReachNothingOfTheHostButDhcp()
    {
        var (a, b) = (Lab.A, Lab.B);
        const string OtherBridge = "fb001002";
        const string MacA2 = "02:00:00:00:0a:22";
        const string MacB2 = "02:00:00:00:0b:22";
        foreach (var host in new[] { a, b })
        {
            await host.Networks.RealizeAsync(
                Lab.Plan(host, Vni, name: "blue") with { Reservations = [new(MacA, "10.20.0.10"), new(MacB, "10.20.0.11")] }, CancellationToken.None);
            await host.Networks.RealizeAsync(
                Lab.Plan(host, OtherVni, name: "green") with { Reservations = [new(MacA2, "10.20.0.12"), new(MacB2, "10.20.0.13")] }, CancellationToken.None);
        }

        var blueA = await Lab.AddGuestAsync(a, Bridge, MacA);
        var blueB = await Lab.AddGuestAsync(b, Bridge, MacB);
        var greenA = await Lab.AddGuestAsync(a, OtherBridge, MacA2);
        var greenB = await Lab.AddGuestAsync(b, OtherBridge, MacB2);

        // Two bridges of host A hold 10.20.0.1/24, each with its dnsmasq: each guest gets its own network's address.
        Assert.Equal("10.20.0.10", (await blueA.DhcpAsync())?.Ip);
        Assert.Equal("10.20.0.11", (await blueB.DhcpAsync())?.Ip);
        Assert.Equal("10.20.0.12", (await greenA.DhcpAsync())?.Ip);
        Assert.Equal("10.20.0.13", (await greenB.DhcpAsync())?.Ip);
        Assert.True(await blueA.PingsAsync("10.20.0.11"));
        Assert.True(await greenA.PingsAsync("10.20.0.13"));

        Assert.Empty(await WhichSucceedAsync(
            ("blue reaches green on the same host", blueA.PingsAsync("10.20.0.12")),
            ("blue reaches green on the other host", blueA.PingsAsync("10.20.0.13")),
            ("green reaches blue on the same host", greenB.PingsAsync("10.20.0.11"))));

        // Nothing of the hosts' namespaces, nor of the underlay, is reachable from a guest, even through the gateway.
        const int Port = 7000;
        await Lab.ListenAsync(a.Namespace, Port);
        await Lab.ListenAsync(b.Namespace, Port);
        using var root = new TcpListener(IPAddress.Parse(Lab.Underlay.BridgeAddress), Port);
        root.Start();
        Assert.Equal(0, (await Netns.RunAsync(a.Namespace, "busybox", "nc", "-w", "1", a.Address, "7000")).ExitCode);
        await blueA.RouteThroughGatewayAsync();
        Assert.Empty(await WhichSucceedAsync(
            ("a guest reaches its host on the gateway address", blueA.ConnectsAsync(NetworkLab.Gateway, Port)),
            ("a guest reaches its host's underlay address", blueA.ConnectsAsync(a.Address, Port)),
            ("a guest reaches another host's underlay address", blueA.ConnectsAsync(b.Address, Port)),
            ("a guest reaches the underlay's bridge", blueA.ConnectsAsync(Lab.Underlay.BridgeAddress, Port)),
            ("a guest pings its host", blueA.PingsAsync(NetworkLab.Gateway))));
    }

    [RootFact]
    public async Task Rules_LetThroughOnlyWhatTheyAllowAndReplies_AndChangeOnALiveNetworkWithoutBreakingFlows()
    {
        var (a, b) = (Lab.A, Lab.B);
        TrafficRule[] tcp = [new("tcp", 5000, 5001, NetworkLab.Cidr)];
        foreach (var host in new[] { a, b })
        {
            await host.Networks.RealizeAsync(Lab.Plan(host, Vni, dhcp: false) with { Rules = [.. tcp], Ports = [new("vm1n0", MacA)] }, CancellationToken.None);
        }

        var tap = await Netns.IndexAsync(a.Namespace, "vm1n0");
        var guestA = await Lab.AddGuestAsync(a, Bridge, MacA);
        var guestB = await Lab.AddGuestAsync(b, Bridge, MacB);
        await guestA.AddAddressAsync("10.20.0.10");
        await guestB.AddAddressAsync("10.20.0.11");
        await Lab.ListenAsync(guestB.Namespace, 5000);
        await Lab.ListenAsync(guestB.Namespace, 5002);

        Assert.True(await guestA.ConnectsAsync("10.20.0.11", 5000), "the rule lets tcp 5000 through");
        Assert.False(await guestA.ConnectsAsync("10.20.0.11", 5002), "no rule lets tcp 5002 through");
        Assert.False(await guestA.PingsAsync("10.20.0.11"), "no rule lets icmp through");

        // A long flow on an allowed port: A sends a line every 100 ms, B prints what it gets.
        var sink = Lab.Start(guestB.Namespace, "sink", "busybox", "nc", "-l", "-p", "5001");
        await NetworkLab.WaitListeningAsync(guestB.Namespace, 5001, sink);
        Lab.Start(guestA.Namespace, "source", "busybox", "nc", "10.20.0.11", "5001", "-e", Lab.LineSourceScript);
        await Netns.EventuallyAsync(() => Task.FromResult(sink.LinesContaining("line").Count >= 3), Settle, "the flow's first lines");

        TrafficRule[] tcpAndIcmp = [.. tcp, new("icmp", null, null, NetworkLab.Cidr)];
        foreach (var host in new[] { a, b })
        {
            await host.Networks.RealizeAsync(Lab.Plan(host, Vni, dhcp: false) with { Rules = [.. tcpAndIcmp], Ports = [new("vm1n0", MacA)] }, CancellationToken.None);
        }

        var seen = sink.LinesContaining("line").Count;
        Assert.True(await guestA.PingsAsync("10.20.0.11"), "the new rule lets icmp through");
        Assert.False(await guestA.ConnectsAsync("10.20.0.11", 5002));
        await Netns.EventuallyAsync(() => Task.FromResult(sink.LinesContaining("line").Count >= seen + 5), Settle, "the flow going on after the rules changed");
        Assert.False(sink.HasExited);
        Assert.Equal(tap, await Netns.IndexAsync(a.Namespace, "vm1n0"));
    }

    [RootFact]
    public async Task Realize_AgainChangesNothing_FollowsThePeers_AndRepairsWhatWasBroken()
    {
        var a = Lab.A;
        var plan = Lab.Plan(a, Vni) with { Ports = [new("vm1n0", MacA)], Reservations = [new(MacA, "10.20.0.10")] };
        var first = await a.Networks.RealizeAsync(plan, CancellationToken.None);
        var indexes = await IndexesAsync(a.Namespace, Bridge, Vxlan, "vm1n0");

        var second = await a.Networks.RealizeAsync(plan, CancellationToken.None);
        Assert.Equal(first.DhcpPid, second.DhcpPid);
        Assert.Equal(indexes, await IndexesAsync(a.Namespace, Bridge, Vxlan, "vm1n0"));

        // The flood list follows the plan's peers, both ways.
        await a.Networks.RealizeAsync(plan with { Peers = [Lab.B.Address, Lab.AbsentPeer] }, CancellationToken.None);
        Assert.Equal(new[] { Lab.B.Address, Lab.AbsentPeer }.Order(StringComparer.Ordinal), await Netns.FloodAsync(a.Namespace, Vxlan));
        await a.Networks.RealizeAsync(plan with { Peers = [Lab.AbsentPeer] }, CancellationToken.None);
        Assert.Equal([Lab.AbsentPeer], await Netns.FloodAsync(a.Namespace, Vxlan));

        // A deleted VXLAN device and a killed dnsmasq are made again; the bridge and the tap stay as they were.
        await Netns.CheckedAsync(a.Namespace, "ip", "link", "del", "dev", Vxlan);
        Processes.Kill(first.DhcpPid!.Value);
        await Netns.EventuallyAsync(() => Task.FromResult(!Processes.IsAlive(first.DhcpPid.Value)), Settle, "dnsmasq killed");
        var repaired = await a.Networks.RealizeAsync(plan, CancellationToken.None);

        Assert.NotNull(repaired.DhcpPid);
        Assert.NotEqual(first.DhcpPid, repaired.DhcpPid);
        Assert.True(Processes.IsAlive(repaired.DhcpPid.Value));
        Assert.Equal(plan.Peers.ToArray(), repaired.Peers.ToArray());
        var vxlan = (await Netns.LinkAsync(a.Namespace, Vxlan))!.Value;
        Assert.Equal(Bridge, vxlan.GetProperty("master").GetString());
        Assert.Contains("UP", vxlan.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        var now = await IndexesAsync(a.Namespace, Bridge, Vxlan, "vm1n0");
        Assert.Equal((indexes[0], indexes[2]), (now[0], now[2]));
        Assert.NotEqual(indexes[1], now[1]);
        var guest = await Lab.AddGuestAsync(a, Bridge, MacA);
        Assert.Equal("10.20.0.10", (await guest.DhcpAsync())?.Ip);
    }

    [RootFact]
    public async Task Ports_AStaleTapIsLeftToRemovePort_AndATapInUseIsNeverRemovedUnlessAsked()
    {
        var a = Lab.A;
        var plan = Lab.Plan(a, Vni, dhcp: false);
        await a.Networks.RealizeAsync(plan with { Ports = [new("vm1n0", MacA), new("vm2n0", MacB)] }, CancellationToken.None);

        // A plan without vm2n0 leaves it: another plan, computed at another moment, may still want it.
        var realized = await a.Networks.RealizeAsync(plan with { Ports = [new("vm1n0", MacA)] }, CancellationToken.None);
        Assert.Equal(new[] { new RealizedPort("vm1n0", false), new RealizedPort("vm2n0", false) }, realized.Taps.ToArray());
        await a.Networks.RemovePortAsync(Vni, "vm2n0", evenInUse: false, CancellationToken.None);
        await a.Networks.RemovePortAsync(Vni, "vm2n0", evenInUse: false, CancellationToken.None);
        Assert.DoesNotContain("vm2n0", await Netns.LinkNamesAsync(a.Namespace));

        await Lab.HoldTapAsync(a, "vm1n0");
        Assert.Equal(new[] { new RealizedPort("vm1n0", true) }, Assert.Single(await a.Networks.ObserveAsync(CancellationToken.None)).Taps.ToArray());
        var refused = await Assert.ThrowsAsync<HypervisorException>(() => a.Networks.RemovePortAsync(Vni, "vm1n0", evenInUse: false, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, refused.Kind);
        Assert.Contains("vm1n0", refused.Message, StringComparison.Ordinal);
        var notRemoved = await Assert.ThrowsAsync<HypervisorException>(() => a.Networks.RemoveAsync(Vni, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, notRemoved.Kind);
        Assert.Contains(Bridge, await Netns.LinkNamesAsync(a.Namespace));
        Assert.Contains("inet fabnet-001001", await Netns.TablesAsync(a.Namespace));

        // Down, a tap has no carrier to read; the process holding it is found in /proc instead.
        await Netns.CheckedAsync(a.Namespace, "ip", "link", "set", "dev", "vm1n0", "down");
        Assert.Equal(new[] { new RealizedPort("vm1n0", true) }, Assert.Single(await a.Networks.ObserveAsync(CancellationToken.None)).Taps.ToArray());
        refused = await Assert.ThrowsAsync<HypervisorException>(() => a.Networks.RemovePortAsync(Vni, "vm1n0", evenInUse: false, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, refused.Kind);

        await a.Networks.RemovePortAsync(Vni, "vm1n0", evenInUse: true, CancellationToken.None);
        Assert.DoesNotContain("vm1n0", await Netns.LinkNamesAsync(a.Namespace));
    }

    [RootFact]
    public async Task Remove_LeavesNothing_AndAgainIsHarmless()
    {
        var a = Lab.A;
        var realized = await a.Networks.RealizeAsync(
            Lab.Plan(a, Vni) with
            {
                Ports = [new("vm1n0", MacA), new("vm2n0", MacB)],
                Reservations = [new(MacA, "10.20.0.10")],
                Rules = [new("any", null, null, NetworkLab.Cidr)],
            },
            CancellationToken.None);
        var files = Path.Combine(a.DataDirectory, "networks", "001001");
        Assert.True(File.Exists(Path.Combine(files, "dnsmasq.conf")));

        await a.Networks.RemoveAsync(Vni, CancellationToken.None);

        var links = await Netns.LinkNamesAsync(a.Namespace);
        Assert.DoesNotContain(links, name => name is Bridge or Vxlan or "vm1n0" or "vm2n0");
        Assert.Empty(await Netns.TablesAsync(a.Namespace));
        Assert.False(Processes.IsAlive(realized.DhcpPid!.Value));
        Assert.Empty(NetworkLab.UncollectedDnsmasqs());
        Assert.False(Directory.Exists(files));
        Assert.Empty(await a.Networks.ObserveAsync(CancellationToken.None));

        await a.Networks.RemoveAsync(Vni, CancellationToken.None);
        await a.Networks.RemovePortAsync(Vni, "vm1n0", evenInUse: false, CancellationToken.None);
    }

    /// <summary>Runs the attempts at once (each fails only by timing out); the descriptions of those that succeeded.</summary>
    private static async Task<IReadOnlyList<string>> WhichSucceedAsync(params (string What, Task<bool> Attempt)[] attempts)
    {
        await Task.WhenAll(attempts.Select(a => a.Attempt));
        return [.. attempts.Where(a => a.Attempt.Result).Select(a => a.What)];
    }

    private static IReadOnlyList<string> Addresses(JsonElement link) =>
        [.. link.GetProperty("addr_info").EnumerateArray().Select(a => $"{a.GetProperty("family").GetString()} {a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}")];

    private static async Task<int[]> IndexesAsync(string ns, params string[] names)
    {
        var indexes = new int[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            indexes[i] = await Netns.IndexAsync(ns, names[i]);
        }

        return indexes;
    }

    /// <summary>The MACs in a host's lease file of the network.</summary>
    private static IReadOnlyList<string> LeasedMacs(LabHost host) =>
        [.. File.ReadAllLines(Path.Combine(host.DataDirectory, "networks", "001001", "leases")).Select(line => line.Split(' ')[1]).Order(StringComparer.Ordinal)];
}
