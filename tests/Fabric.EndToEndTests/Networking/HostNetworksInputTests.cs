using Fabric.Hypervisor;
using Fabric.Hypervisor.Networking;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.EndToEndTests.Networking;

/// <summary>
/// Hostile plans and arguments are refused (<c>InvalidRequest</c>, naming the field) before any command runs: the
/// realizer here works in a namespace that does not exist, so any command would fail with <c>Failed</c> instead.
/// </summary>
public sealed class HostNetworksInputTests
{
    private static readonly NetworkPlan Good = new("blue", 4097, "10.20.0.0/24", "10.20.0.1", true, 1400, "10.214.0.10")
    {
        Peers = ["10.214.0.11"],
        Ports = [new("vm1n0", "02:00:00:00:0a:01")],
        Reservations = [new("02:00:00:00:0a:01", "10.20.0.10")],
        Rules = [new("tcp", 22, null, "10.20.0.0/24")],
    };

    private static readonly Dictionary<string, NetworkPlan> Plans = new()
    {
        ["vni 0"] = Good with { Vni = 0 },
        ["vni above 24 bits"] = Good with { Vni = 0x1000000 },
        ["negative vni"] = Good with { Vni = -1 },
        ["name with a slash"] = Good with { Name = "../blue" },
        ["name with a newline"] = Good with { Name = "blue\nport=53" },
        ["tap climbing out"] = Good with { Ports = [new("../x", "02:00:00:00:0a:01")] },
        ["tap of 16 characters"] = Good with { Ports = [new("abcdefghijklmnop", "02:00:00:00:0a:01")] },
        ["tap named like a bridge"] = Good with { Ports = [new("fb001002", "02:00:00:00:0a:01")] },
        ["tap twice"] = Good with { Ports = [new("vm1n0", "02:00:00:00:0a:01"), new("vm1n0", "02:00:00:00:0a:02")] },
        ["multicast port mac"] = Good with { Ports = [new("vm1n0", "03:00:00:00:0a:01")] },
        ["rule port 0"] = Good with { Rules = [new("tcp", 0, null, "10.20.0.0/24")] },
        ["rule port above 65535"] = Good with { Rules = [new("udp", 1, 65536, "10.20.0.0/24")] },
        ["rule from above to"] = Good with { Rules = [new("tcp", 5001, 5000, "10.20.0.0/24")] },
        ["rule to without from"] = Good with { Rules = [new("tcp", null, 80, "10.20.0.0/24")] },
        ["rule ports on icmp"] = Good with { Rules = [new("icmp", 1, 2, "10.20.0.0/24")] },
        ["rule protocol injected"] = Good with { Rules = [new("tcp accept; flush ruleset;", 22, null, "10.20.0.0/24")] },
        ["rule cidr injected"] = Good with { Rules = [new("tcp", 22, null, "10.20.0.0/24 accept\nflush ruleset")] },
        ["rule cidr with host bits"] = Good with { Rules = [new("tcp", 22, null, "10.20.0.5/24")] },
        ["rule cidr of 33 bits"] = Good with { Rules = [new("any", null, null, "10.20.0.0/33")] },
        ["cidr short form"] = Good with { Cidr = "10.20/16" },
        ["cidr in hex"] = Good with { Cidr = "0x0a.20.0.0/24" },
        ["cidr with host bits"] = Good with { Cidr = "10.20.0.1/24" },
        ["cidr too small"] = Good with { Cidr = "10.20.0.0/31" },
        ["gateway outside the cidr"] = Good with { Gateway = "10.21.0.1" },
        ["gateway is the network address"] = Good with { Gateway = "10.20.0.0" },
        ["gateway with leading zero"] = Good with { Gateway = "10.20.0.01" },
        ["reservation outside the cidr"] = Good with { Reservations = [new("02:00:00:00:0a:01", "10.21.0.10")] },
        ["reservation on the gateway"] = Good with { Reservations = [new("02:00:00:00:0a:01", "10.20.0.1")] },
        ["reservation mac upper case"] = Good with { Reservations = [new("02:00:00:00:0A:01", "10.20.0.10")] },
        ["address reserved twice"] = Good with { Reservations = [new("02:00:00:00:0a:01", "10.20.0.10"), new("02:00:00:00:0a:02", "10.20.0.10")] },
        ["mtu too small"] = Good with { Mtu = 100 },
        ["local address not ipv4"] = Good with { LocalAddress = "host-a" },
        ["peer not ipv4"] = Good with { Peers = ["10.214.0.11 dev lo"] },
        ["cidr over the underlay"] = Good with { Cidr = "10.214.0.0/16", Gateway = "10.214.1.1", Reservations = [] },
        ["cidr over a peer"] = Good with { Cidr = "10.214.0.0/28", Gateway = "10.214.0.1", LocalAddress = "10.213.0.10", Reservations = [] },
    };

    private readonly LinuxHostNetworks _networks = new(
        new HostNetworksOptions { DataDirectory = "/nonexistent/fabric-networks", Namespace = "t00000-none" },
        NullLogger<LinuxHostNetworks>.Instance);

    public static TheoryData<string, string> Cases => new()
    {
        { "vni 0", "vni 0 is out of range" },
        { "vni above 24 bits", "vni 16777216 is out of range" },
        { "negative vni", "vni -1 is out of range" },
        { "name with a slash", "name '../blue'" },
        { "name with a newline", "name 'blue" },
        { "tap climbing out", "ports[0].tap '../x'" },
        { "tap of 16 characters", "ports[0].tap 'abcdefghijklmnop'" },
        { "tap named like a bridge", "ports[0].tap 'fb001002'" },
        { "tap twice", "ports[1].tap 'vm1n0' appears twice" },
        { "multicast port mac", "ports[0].mac" },
        { "rule port 0", "rules[0].fromPort 0" },
        { "rule port above 65535", "rules[0].toPort 65536" },
        { "rule from above to", "rules[0]: fromPort 5001 is greater than toPort 5000" },
        { "rule to without from", "rules[0].toPort 80 is given without a fromPort" },
        { "rule ports on icmp", "rules[0]: ports apply to tcp and udp only" },
        { "rule protocol injected", "rules[0].protocol" },
        { "rule cidr injected", "rules[0].sourceCidr" },
        { "rule cidr with host bits", "rules[0].sourceCidr '10.20.0.5/24'" },
        { "rule cidr of 33 bits", "rules[0].sourceCidr" },
        { "cidr short form", "cidr '10.20/16'" },
        { "cidr in hex", "cidr '0x0a.20.0.0/24'" },
        { "cidr with host bits", "cidr '10.20.0.1/24'" },
        { "cidr too small", "cidr '10.20.0.0/31'" },
        { "gateway outside the cidr", "gateway 10.21.0.1 is not a host address inside cidr 10.20.0.0/24" },
        { "gateway is the network address", "gateway 10.20.0.0" },
        { "gateway with leading zero", "gateway '10.20.0.01'" },
        { "reservation outside the cidr", "reservations[0].ip '10.21.0.10'" },
        { "reservation on the gateway", "reservations[0].ip '10.20.0.1'" },
        { "reservation mac upper case", "reservations[0].mac" },
        { "address reserved twice", "reservations[1].ip 10.20.0.10 is reserved twice" },
        { "mtu too small", "mtu 100" },
        { "local address not ipv4", "localAddress 'host-a'" },
        { "peer not ipv4", "peers[0]" },
        { "cidr over the underlay", "cidr 10.214.0.0/16 contains localAddress 10.214.0.10" },
        { "cidr over a peer", "cidr 10.214.0.0/28 contains peer 10.214.0.11" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Realize_RefusesAHostilePlan_NamingTheField(string plan, string message)
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _networks.RealizeAsync(Plans[plan], CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "vm1n0", "vni 0")]
    [InlineData(4097, "../x", "tap '../x'")]
    [InlineData(4097, "abcdefghijklmnop", "tap 'abcdefghijklmnop'")]
    [InlineData(4097, "Tap1", "tap 'Tap1'")]
    public async Task RemovePort_RefusesABadVniOrTap(int vni, string tap, string message)
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _networks.RemovePortAsync(vni, tap, evenInUse: true, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_RefusesABadVni()
    {
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _networks.RemoveAsync(16777216, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void Construction_RefusesARelativeDataDirectoryOrABadNamespace()
    {
        Assert.Equal(
            HypervisorErrorKind.InvalidRequest,
            Assert.Throws<HypervisorException>(() => new LinuxHostNetworks(new HostNetworksOptions { DataDirectory = "data" }, NullLogger<LinuxHostNetworks>.Instance)).Kind);
        Assert.Equal(
            HypervisorErrorKind.InvalidRequest,
            Assert.Throws<HypervisorException>(() => new LinuxHostNetworks(new HostNetworksOptions { DataDirectory = "/data", Namespace = "../x" }, NullLogger<LinuxHostNetworks>.Instance)).Kind);
    }

    [Fact]
    public async Task Realize_WithAGoodPlan_GetsAsFarAsRunningACommand()
    {
        // The control: the same plan, valid, fails only because the namespace does not exist.
        var error = await Assert.ThrowsAsync<HypervisorException>(() => _networks.RealizeAsync(Good, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains("nft -f -", error.Message, StringComparison.Ordinal);
    }
}
