using Fabric.Grains.Network;

namespace Fabric.UnitTests.Networks;

/// <summary>How a network derives each NIC's MAC and address from the NIC's offset in the prefix.</summary>
public sealed class NetworkRecordTests
{
    private static readonly NetworkRecord Blue = new() { Vni = 0x123456, Cidr = "10.10.0.0/16", Gateway = "10.10.0.1", Mtu = 1450 };

    [Fact]
    public void Mac_IsLocallyAdministeredUnicast_WithTheVniAndTheOffset()
    {
        var port = new PortRow { Vm = "web", Slot = 0, Offset = 0x0203 };
        Assert.Equal("02:12:34:56:02:03", Blue.MacOf(port));
        Assert.Equal("10.10.2.3", Blue.IpOf(port));
        Assert.Equal(0, Convert.ToInt32(Blue.MacOf(port)[..2], 16) & 1); // unicast
        Assert.Equal(2, Convert.ToInt32(Blue.MacOf(port)[..2], 16) & 2); // locally administered
    }

    [Fact]
    public void Placement_CarriesWhatTheHostPlugsIn()
    {
        var nic = Blue.Placement("blue", new PortRow { Vm = "web", Slot = 3, Offset = 65534 });
        Assert.Equal(3, nic.Slot);
        Assert.Equal("10.10.255.254", nic.Ip);
        Assert.Equal("02:12:34:56:ff:fe", nic.Mac);
        Assert.Equal(16, nic.PrefixLength);
        Assert.Equal("ft123456fffe", nic.Tap);
        Assert.Equal(1, Blue.GatewayOffset);
    }
}
