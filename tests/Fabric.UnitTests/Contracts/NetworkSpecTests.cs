using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

/// <summary>Networks, rules and NICs as operators type them: every bad field named, addresses strict.</summary>
public sealed class NetworkSpecTests
{
    private static NetworkSpec Net(string cidr = "10.10.0.0/24", string? gateway = null, int mtu = NetworkSpec.DefaultMtu) =>
        new() { Name = "blue", Cidr = cidr, Gateway = gateway, Mtu = mtu };

    [Fact]
    public void Validate_FillsInTheFirstAddressAsGateway()
    {
        var spec = Net().Validate();
        Assert.Equal("10.10.0.1", spec.Gateway);
        Assert.Equal("10.10.0.0/24", spec.Cidr);
        Assert.True(spec.Dhcp);
    }

    [Theory]
    [InlineData("10.10.0.0/30", "too small")]
    [InlineData("10.10.0.0/32", "too small")]
    [InlineData("10.0.0.0/8", "too large")]
    [InlineData("10.10.0.5/24", "host bits set; the prefix is 10.10.0.0/24")]
    [InlineData("10.10.0.0", "is not an IPv4 prefix")]
    [InlineData("10.10.0.0/24\n", "is not an IPv4 prefix")]
    [InlineData("010.10.0.0/24", "is not an IPv4 prefix")]
    [InlineData("10.10.0.256/24", "is not an IPv4 prefix")]
    [InlineData("fd00::/64", "is not an IPv4 prefix")]
    [InlineData("", "is required")]
    public void Cidr_TooSmallTooLargeOrMalformed_NamesTheField(string cidr, string reason)
    {
        var error = InvalidSpec.Expect("cidr", () => Net(cidr).Validate());
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.11.0.1", "outside")]
    [InlineData("10.10.0.0", "network address")]
    [InlineData("10.10.0.255", "broadcast address")]
    [InlineData("10.10.0.x", "not an IPv4 address")]
    public void Gateway_OutsideTheCidrOrReserved_NamesTheField(string gateway, string reason)
    {
        var error = InvalidSpec.Expect("gateway", () => Net(gateway: gateway).Validate());
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(575)]
    [InlineData(8951)]
    public void Mtu_OutOfRange_NamesTheField(int mtu) => InvalidSpec.Expect("mtu", () => Net(mtu: mtu).Validate());

    [Fact]
    public void Name_IsAPlainName() => InvalidSpec.Expect("name", () => (Net() with { Name = "../blue" }).Validate());

    [Fact]
    public void Cidrs_OverlapWhenOneContainsTheOther()
    {
        var wide = Ipv4Cidr.Parse("cidr", "10.10.0.0/16");
        Assert.True(wide.Overlaps(Ipv4Cidr.Parse("cidr", "10.10.7.0/24")));
        Assert.True(Ipv4Cidr.Parse("cidr", "10.10.7.0/24").Overlaps(wide));
        Assert.False(wide.Overlaps(Ipv4Cidr.Parse("cidr", "10.11.0.0/24")));
        Assert.Equal(256, Ipv4Cidr.Parse("cidr", "10.10.7.0/24").Size);
    }

    [Theory]
    [InlineData("blue", "blue", null)]
    [InlineData("blue:10.10.0.7", "blue", "10.10.0.7")]
    public void NicRequest_ParsesNetOrNetIp(string text, string network, string? ip)
    {
        var request = NicRequest.Parse("network", text);
        Assert.Equal(network, request.Network);
        Assert.Equal(ip, request.Ip);
        Assert.Equal(text, request.ToString());
    }

    [Theory]
    [InlineData("blue:10.10.0.7:1", "network")]
    [InlineData("Blue", "network.network")]
    [InlineData("blue:10.10.0", "network.ip")]
    [InlineData("../x:10.0.0.1", "network.network")]
    public void NicRequest_Malformed_NamesTheField(string text, string field) => InvalidSpec.Expect(field, () => NicRequest.Parse("network", text));

    [Fact]
    public void VmSpec_RefusesTooManyNicsAndTheSameAddressTwice()
    {
        var vm = new VmSpec { Name = "web", Image = "linux" };
        InvalidSpec.Expect("nics", () => (vm with { Nics = [.. Enumerable.Repeat(new NicRequest { Network = "blue" }, VmNic.MaxPerVm + 1)] }).Validate());
        InvalidSpec.Expect("nics", () => (vm with { Nics = [NicRequest.Parse("n", "blue:10.10.0.7"), NicRequest.Parse("n", "blue:10.10.0.7")] }).Validate());
        InvalidSpec.Expect("nics[1].network", () => (vm with { Nics = [new NicRequest { Network = "blue" }, new NicRequest { Network = "" }] }).Validate());
        Assert.Equal(2, (vm with { Nics = [new NicRequest { Network = "blue" }, new NicRequest { Network = "blue" }] }).Validate().Nics.Length);
    }

    [Theory]
    [InlineData(RuleProtocol.Tcp, 0, null, "0.0.0.0/0", "port")]
    [InlineData(RuleProtocol.Tcp, 5000, 4000, "0.0.0.0/0", "port")]
    [InlineData(RuleProtocol.Udp, 1, 65536, "0.0.0.0/0", "port")]
    [InlineData(RuleProtocol.Icmp, 80, null, "0.0.0.0/0", "port")]
    [InlineData(RuleProtocol.Tcp, 80, null, "10.0.0.1/24", "source")]
    [InlineData(RuleProtocol.Tcp, 80, null, "10.0.0.0/33", "source")]
    [InlineData((RuleProtocol)9, null, null, "0.0.0.0/0", "protocol")]
    public void Rule_BadPortsSourceOrProtocol_NamesTheField(RuleProtocol protocol, int? from, int? to, string source, string field) =>
        InvalidSpec.Expect(field, () => new NetworkRule { Protocol = protocol, FromPort = from, ToPort = to, Source = source }.Validate());

    [Fact]
    public void Rule_OnePortIsARangeOfOne()
    {
        var rule = new NetworkRule { Protocol = RuleProtocol.Tcp, FromPort = 5000 }.Validate();
        Assert.Equal(5000, rule.ToPort);
        Assert.Equal("tcp port 5000 from 0.0.0.0/0", rule.ToString());
        Assert.Equal((5000, 5010), NetworkRule.ParsePorts("5000-5010"));
        InvalidSpec.Expect("port", () => NetworkRule.ParsePorts("5000-"));
        InvalidSpec.Expect("port", () => NetworkRule.ParsePorts("-1"));
    }

    [Fact]
    public void NicPlacement_TapIsTheMacsLastFiveBytes()
    {
        var nic = new NicPlacement(0, "blue", 4096, "10.10.0.2", "02:00:10:00:00:02", 1450, 24);
        Assert.Equal("ft0010000002", nic.Tap);
        Assert.True(nic.Tap.Length <= 15);
    }
}
