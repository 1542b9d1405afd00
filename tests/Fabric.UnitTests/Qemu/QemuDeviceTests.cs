using System.Text.Json;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class QemuDeviceTests
{
    [Fact]
    public void PeripheralIds_AreTheChildDevicesOnly()
    {
        // As QEMU 7.2 answers qom-list of /machine/peripheral with a disk and a NIC.
        var ids = QemuDevice.PeripheralIds(JsonDocument.Parse("""
            [{"name":"type","type":"string"},
             {"name":"disk0-dev","type":"child<virtio-blk-pci>"},
             {"name":"net1-dev","type":"child<virtio-net-pci>"}]
            """).RootElement.Clone());

        Assert.Equal(["disk0-dev", "net1-dev"], ids.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OptionAndDeviceAdd_CarryTheSamePropertiesWithTheDriverFirst()
    {
        KeyValuePair<string, string>[] properties = [new("driver", "virtio-net-pci"), new("id", "net0-dev"), new("addr", "0x8")];

        Assert.Equal("virtio-net-pci,id=net0-dev,addr=0x8", QemuDevice.Option(properties));
        Assert.Equal("""{"driver":"virtio-net-pci","id":"net0-dev","addr":"0x8"}""", QemuDevice.DeviceAdd(properties).ToJsonString());
    }
}
