using Fabric.Hypervisor;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class VirtioNicTests
{
    private static readonly NicSpec Front = new(0, "tf0a1b2c3", "52:54:00:12:34:56", 1500);
    private static readonly NicSpec Back = new(3, "tf0a1b2c4", "02:00:0a:00:00:07", 1400);

    [Fact]
    public void Netdev_OpensTheGivenTapWithoutScriptsOrVhost()
    {
        // The same object is the -netdev argument (QEMU 7.1+ takes JSON there) and QMP netdev_add's arguments.
        Assert.Equal(
            """{"type":"tap","id":"net3","ifname":"tf0a1b2c4","script":"no","downscript":"no","vhost":false}""",
            VirtioNic.Netdev(Back).ToJsonString());
    }

    [Fact]
    public void DeviceOption_PutsTheNicBehindItsSlotsRootPortWithItsMacAndMtu()
    {
        var device = QemuOption.Parse(VirtioNic.DeviceOption(Back));

        Assert.Equal("", device["virtio-net-pci"]);
        Assert.Equal("net3-dev", device["id"]);
        Assert.Equal("net3", device["netdev"]);
        Assert.Equal("02:00:0a:00:00:07", device["mac"]);
        Assert.Equal("1400", device["host_mtu"]);
        Assert.Equal("port-n3", device["bus"]);
        Assert.Equal("0x0", device["addr"]);
        Assert.Equal(7, device.Count);
    }

    [Fact]
    public void DeviceAdd_HasExactlyTheCommandLinesProperties()
    {
        // A hot-plugged NIC must be the device a process launched with it has (a migration's target, a restore).
        var arguments = VirtioNic.DeviceAdd(Back);
        var option = QemuOption.Parse(VirtioNic.DeviceOption(Back));

        Assert.Equal("virtio-net-pci", (string?)arguments["driver"]);
        var properties = arguments.Where(p => p.Key != "driver").ToDictionary(p => p.Key, p => (string?)p.Value);
        Assert.Equal(option.Where(p => p.Key != "virtio-net-pci").ToDictionary(p => p.Key, p => (string?)p.Value), properties);
    }

    [Fact]
    public void CommandLine_CarriesEveryNicAsNetdevAndDeviceBySlot()
    {
        var disk = new DiskSpec(0, "/pools/p1/volumes/root.qcow2", "qcow2", "root");
        var spec = new LaunchSpec("web-1", 1, Guid.NewGuid(), 1, 128, "tiny") { Disks = [disk], Nics = [Back, Front] };
        var image = new GuestImage("linux", GuestBoot.Kernel, null, "/images/linux/vmlinuz", null, null, 128, "kernel");

        var args = QemuCommandLine.Build(spec, image, new AcceleratorChoice("tcg", "test"), VmPaths.For("/srv/fabric", "web-1"));

        var netdevs = args.Select((a, i) => (a, i)).Where(p => p.a == "-netdev").Select(p => args[p.i + 1]).ToList();
        Assert.Equal([VirtioNic.Netdev(Front).ToJsonString(), VirtioNic.Netdev(Back).ToJsonString()], netdevs);
        var devices = args.Select((a, i) => (a, i)).Where(p => p.a == "-device").Select(p => args[p.i + 1]).Where(d => !d.StartsWith(PcieRootPorts.Driver, StringComparison.Ordinal)).ToList();
        Assert.Equal([VirtioDisk.DeviceOption(disk), VirtioNic.DeviceOption(Front), VirtioNic.DeviceOption(Back)], devices);
    }

    [Fact]
    public void CommandLine_WithoutNicsHasNoNetdev()
    {
        var spec = new LaunchSpec("web-1", 1, Guid.NewGuid(), 1, 128, "tiny");
        var image = new GuestImage("linux", GuestBoot.Kernel, null, "/images/linux/vmlinuz", null, null, 128, "kernel");

        var args = QemuCommandLine.Build(spec, image, new AcceleratorChoice("tcg", "test"), VmPaths.For("/srv/fabric", "web-1"));

        Assert.DoesNotContain("-netdev", args);
    }

    [Fact]
    public void NicArguments_RefuseAnInvalidNic()
    {
        var bad = Front with { Tap = "../x" };

        Assert.Equal(HypervisorErrorKind.InvalidRequest, Assert.Throws<HypervisorException>(() => QemuCommandLine.NicArguments(bad).ToList()).Kind);
    }

    [Fact]
    public void Announcement_IsQemusOwnTiming()
    {
        Assert.Equal("""{"initial":50,"max":550,"rounds":5,"step":100}""", VirtioNic.Announcement().ToJsonString());
    }

    [Fact]
    public void NicSpec_NamesItsBackendDeviceAndPciSlotBySlot()
    {
        Assert.Equal(("net3", "net3-dev", 0x0b), (Back.NetdevId, Back.DeviceId, Back.PciSlot));
        Assert.Equal(NicSpec.FirstPciSlot + NicSpec.MaxNics - 1, new NicSpec(NicSpec.MaxNics - 1, "t", "02:00:00:00:00:01", 1500).PciSlot);
        Assert.True(NicSpec.FirstPciSlot + NicSpec.MaxNics <= DiskSpec.FirstPciSlot, "NIC and disk PCI slots overlap");
    }

    [Theory]
    [InlineData(0, "tap0", "52:54:00:12:34:56", 1500)]
    [InlineData(7, "abcdefghij12345", "02:00:00:00:00:00", 576)]
    [InlineData(3, "t", "fe:ff:ff:ff:ff:ff", 9000)]
    public void EnsureValid_AcceptsWhatQemuCanTakeAsItIs(int slot, string tap, string mac, int mtu)
    {
        new NicSpec(slot, tap, mac, mtu).EnsureValid();
    }

    [Theory]
    [InlineData(-1, "tap0", "52:54:00:12:34:56", 1500, "slot")]
    [InlineData(8, "tap0", "52:54:00:12:34:56", 1500, "slot")]
    [InlineData(0, "../x", "52:54:00:12:34:56", 1500, "tap")]
    [InlineData(0, "abcdefghij123456", "52:54:00:12:34:56", 1500, "tap")]
    [InlineData(0, "", "52:54:00:12:34:56", 1500, "tap")]
    [InlineData(0, "Tap0", "52:54:00:12:34:56", 1500, "tap")]
    [InlineData(0, "tap0,script=/x", "52:54:00:12:34:56", 1500, "tap")]
    [InlineData(0, "tap0", "01:00:5e:00:00:01", 1500, "mac")]
    [InlineData(0, "tap0", "ff:ff:ff:ff:ff:ff", 1500, "mac")]
    [InlineData(0, "tap0", "52:54:00:AB:34:56", 1500, "mac")]
    [InlineData(0, "tap0", "52-54-00-12-34-56", 1500, "mac")]
    [InlineData(0, "tap0", "52:54:00:12:34:56,x", 1500, "mac")]
    [InlineData(0, "tap0", "52:54:00:12:34:56", 575, "mtu")]
    [InlineData(0, "tap0", "52:54:00:12:34:56", 9001, "mtu")]
    public void EnsureValid_RefusesWhatCouldNotGoOnTheCommandLine(int slot, string tap, string mac, int mtu, string field)
    {
        var refused = Assert.Throws<HypervisorException>(() => new NicSpec(slot, tap, mac, mtu).EnsureValid());

        Assert.Equal(HypervisorErrorKind.InvalidRequest, refused.Kind);
        Assert.Contains(field, refused.Message, StringComparison.Ordinal);
    }
}
