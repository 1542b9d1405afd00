using System.Text.RegularExpressions;

namespace Fabric.Hypervisor;

/// <summary>
/// A network interface of a VM's process: a virtio-net device on a tap the host's network realization made
/// (<see cref="IHostNetworks"/>). The slot fixes the PCI Express root port the device sits behind (<c>port-n&lt;slot&gt;</c>,
/// PCIe slot number <see cref="FirstPciSlot"/> + slot) and its netdev and device ids (<c>net&lt;slot&gt;</c>), so that a migration's target and a snapshot's restore get exactly
/// the devices the source had, wherever they were hot-plugged.
/// </summary>
/// <param name="Slot">0 to <see cref="MaxNics"/> - 1, unique within the VM.</param>
/// <param name="Tap">The tap device the NIC's frames go through (made before the launch or hot-plug).</param>
/// <param name="Mac">The guest's MAC address, <c>xx:xx:xx:xx:xx:xx</c> in lower case, unicast.</param>
/// <param name="Mtu">The MTU the guest is offered (the network's).</param>
public sealed partial record NicSpec(int Slot, string Tap, string Mac, int Mtu)
{
    public const int MaxNics = 8;

    /// <summary>The PCIe slot number of NIC 0's root port (the disks' ports start at 0x10).</summary>
    public const int FirstPciSlot = 0x08;

    public const int MinMtu = 576;

    public const int MaxMtu = 9000;

    /// <summary>QEMU's id of the NIC's tap backend.</summary>
    public string NetdevId => $"net{Slot}";

    /// <summary>QEMU's id of the NIC's virtio-net device.</summary>
    public string DeviceId => $"net{Slot}-dev";

    public int PciSlot => FirstPciSlot + Slot;


    /// <summary>Throws <see cref="HypervisorException"/> (<c>InvalidRequest</c>) unless the NIC can go on a QEMU command line as it is.</summary>
    public void EnsureValid()
    {
        if (Slot < 0 || Slot >= MaxNics)
        {
            throw Invalid($"nic slot {Slot} is out of range 0–{MaxNics - 1}");
        }

        if (Tap is null || !TapName().IsMatch(Tap))
        {
            throw Invalid($"nic {Slot}: tap '{Tap}' must be 1–15 characters of a-z and 0-9");
        }

        if (Mac is null || !MacAddress().IsMatch(Mac) || (Convert.ToInt32(Mac[..2], 16) & 1) != 0)
        {
            throw Invalid($"nic {Slot}: mac '{Mac}' is not a unicast MAC address in lower-case xx:xx:xx:xx:xx:xx form");
        }

        if (Mtu is < MinMtu or > MaxMtu)
        {
            throw Invalid($"nic {Slot}: mtu {Mtu} is out of range {MinMtu}–{MaxMtu}");
        }
    }

    private static HypervisorException Invalid(string message) => new(HypervisorErrorKind.InvalidRequest, message);

    [GeneratedRegex("^[a-z0-9]{1,15}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TapName();

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex MacAddress();
}
