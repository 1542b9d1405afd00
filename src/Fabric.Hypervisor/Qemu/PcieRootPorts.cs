using System.Globalization;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// The PCI Express root ports of a q35 machine, one per hot-pluggable slot: q35's root bus (<c>pcie.0</c>) takes no
/// hot-plug, so every disk and NIC sits alone behind a port of its own (<c>bus=&lt;port&gt;,addr=0x0</c>). Every
/// process gets all of them on its command line, whatever it holds, so a migration's target and a snapshot's restore
/// have the source's device tree wherever a device was hot-plugged. A port's PCIe slot number is the device's
/// <c>PciSlot</c> (chassis 1); its address on <c>pcie.0</c> packs eight ports into the functions of one device
/// number: NICs at 02.0–02.7, disks at 03.0–04.7 (00.0 is the host bridge, 01.0 the boot disk, 1f the ICH9 chipset).
/// SeaBIOS gives an empty port no I/O window, so 24 ports fit its I/O space; virtio devices behind a PCIe port are
/// modern-only and need none.
/// </summary>
public static class PcieRootPorts
{
    public const string Driver = "pcie-root-port";

    /// <summary>Every port's <c>-device</c> value, the NICs' then the disks', in slot order.</summary>
    public static IEnumerable<string> DeviceOptions()
    {
        for (var slot = 0; slot < NicSpec.MaxNics; slot++)
        {
            yield return DeviceOption(NicPort(slot), NicSpec.FirstPciSlot + slot);
        }

        for (var slot = 0; slot < DiskSpec.MaxDisks; slot++)
        {
            yield return DeviceOption(DiskPort(slot), DiskSpec.FirstPciSlot + slot);
        }
    }

    /// <summary>The id of NIC slot <paramref name="slot"/>'s port.</summary>
    public static string NicPort(int slot) => string.Create(CultureInfo.InvariantCulture, $"port-n{slot}");

    /// <summary>The id of disk slot <paramref name="slot"/>'s port.</summary>
    public static string DiskPort(int slot) => string.Create(CultureInfo.InvariantCulture, $"port-d{slot}");

    /// <summary>The <c>-device</c> value of the port with PCIe slot number <paramref name="pciSlot"/>.</summary>
    private static string DeviceOption(string id, int pciSlot)
    {
        var function = pciSlot % 8;
        var address = string.Create(CultureInfo.InvariantCulture, $"0x{(pciSlot / 8) + 1:x}.{function}");

        // Function 0 says the device number has more functions, or the guest would not look for them.
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{Driver},id={id},bus=pcie.0,chassis=1,slot={pciSlot},addr={address}{(function == 0 ? ",multifunction=on" : "")}");
    }
}
