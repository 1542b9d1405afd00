using System.Globalization;
using System.Text.Json.Nodes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// How a <see cref="NicSpec"/> becomes QEMU objects, in one place for the command line and for QMP (as
/// <see cref="VirtioDisk"/> does for disks): a tap backend (<c>-netdev</c> / <c>netdev_add</c>) and a virtio-net device
/// on it behind the slot's own PCIe root port (<c>-device</c> / <c>device_add</c>), so that a migration's target and a
/// snapshot's restore, launched with the NICs on their command line, have the source's device tree.
/// </summary>
public static class VirtioNic
{
    public const string DeviceDriver = "virtio-net-pci";

    /// <summary>
    /// The tap backend: QEMU opens the tap the host's network realization made (it never creates one, and runs no
    /// script). No vhost-net: QEMU 7.2 asked for it where <c>/dev/vhost-net</c> is missing warns and then aborts
    /// (<c>net_client_init1: Assertion `nc' failed</c>, seen here), and these machines have none (docs/hypervisor.md).
    /// </summary>
    public static JsonObject Netdev(NicSpec nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        return new JsonObject
        {
            ["type"] = "tap",
            ["id"] = nic.NetdevId,
            ["ifname"] = nic.Tap,
            ["script"] = "no",
            ["downscript"] = "no",
            ["vhost"] = false,
        };
    }

    /// <summary>The virtio-net device's properties, in command-line order (driver first).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> DeviceProperties(NicSpec nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        return
        [
            new("driver", DeviceDriver),
            new("id", nic.DeviceId),
            new("netdev", nic.NetdevId),
            new("mac", nic.Mac),

            // Offered to the guest (VIRTIO_NET_F_MTU): the guest's interface comes up with the network's MTU.
            new("host_mtu", nic.Mtu.ToString(CultureInfo.InvariantCulture)),
            new("bus", PcieRootPorts.NicPort(nic.Slot)),
            new("addr", "0x0"),
        ];
    }

    /// <summary>The <c>-device</c> value: <c>virtio-net-pci,id=…,netdev=…,mac=…,host_mtu=…,bus=port-n…,addr=0x0</c>.</summary>
    public static string DeviceOption(NicSpec nic) => QemuDevice.Option(DeviceProperties(nic));

    /// <summary>The arguments of QMP <c>device_add</c>: the same properties as <see cref="DeviceOption"/>.</summary>
    public static JsonObject DeviceAdd(NicSpec nic) => QemuDevice.DeviceAdd(DeviceProperties(nic));

    /// <summary>
    /// QMP <c>announce-self</c>'s timing (QEMU's own defaults for the announcement after an incoming migration): five
    /// rounds, 50 ms after the request, then 150, 250, 350 and 450 ms (steps of 100 ms, at most 550).
    /// </summary>
    public static JsonObject Announcement() => new()
    {
        ["initial"] = 50,
        ["max"] = 550,
        ["rounds"] = 5,
        ["step"] = 100,
    };
}
