using Fabric.Hypervisor;
using Fabric.Hypervisor.Networking;

namespace Fabric.UnitTests.Networking;

public sealed class ValidPlanTests
{
    private static readonly NetworkPlan Plan = new("blue", 4097, "10.20.0.0/24", "10.20.0.1", true, 1400, "10.214.0.10");

    [Fact]
    public void From_SortsPeers_DropsDuplicatesAndThisHost()
    {
        var plan = ValidPlan.From(Plan with { Peers = ["10.214.0.12", "10.214.0.10", "10.214.0.9", "10.214.0.12"] });

        Assert.Equal(["10.214.0.9", "10.214.0.12"], plan.Peers.Select(p => p.ToString()));
        Assert.Equal(("fb001001", "fx001001"), (plan.Bridge, plan.Vxlan));
    }

    [Fact]
    public void From_TakesAPortRangeOfOneAndNoPortsForAny()
    {
        var plan = ValidPlan.From(Plan with { Rules = [new("udp", 53, null, "10.20.0.0/24"), new("any", null, null, "0.0.0.0/0")] });

        Assert.Equal(new ValidRule(RuleProtocol.Udp, 53, 53, new Ipv4Prefix(new Ipv4Address(0x0A140000), 24)), plan.Rules[0]);
        Assert.Equal(new ValidRule(RuleProtocol.Any, null, null, default), plan.Rules[1]);
    }

    [Theory]
    [InlineData("10.20.0.1", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("10.20.0", false)]
    [InlineData("10.20.0.1.5", false)]
    [InlineData("10.20.0.256", false)]
    [InlineData("10.20.0.01", false)]
    [InlineData("10.20.0.+1", false)]
    [InlineData(" 10.20.0.1", false)]
    [InlineData("10.20.0.1\n", false)]
    [InlineData("١٠.20.0.1", false)]
    [InlineData("", false)]
    public void Ipv4Address_IsReadStrictly(string text, bool valid)
    {
        Assert.Equal(valid, Ipv4Address.TryParse(text, out var address));
        if (valid)
        {
            Assert.Equal(text, address.ToString());
        }
    }

    [Theory]
    [InlineData("10.20.0.0/24", true)]
    [InlineData("0.0.0.0/0", true)]
    [InlineData("10.20.0.7/32", true)]
    [InlineData("10.20.0.1/24", false)]
    [InlineData("10.20.0.0/33", false)]
    [InlineData("10.20.0.0/024", false)]
    [InlineData("10.20.0.0/", false)]
    [InlineData("10.20.0.0", false)]
    [InlineData("10.20.0.0/24/8", false)]
    public void Ipv4Prefix_IsReadStrictly(string text, bool valid)
    {
        Assert.Equal(valid, Ipv4Prefix.TryParse(text, out var prefix));
        if (valid)
        {
            Assert.Equal(text, prefix.ToString());
        }
    }
}
