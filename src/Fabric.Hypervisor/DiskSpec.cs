using System.Text.RegularExpressions;

namespace Fabric.Hypervisor;

/// <summary>
/// A disk of a VM's process: a volume file attached as a virtio-blk device. The slot fixes the PCI Express root port the
/// device sits behind (<c>port-d&lt;slot&gt;</c>, PCIe slot number <see cref="FirstPciSlot"/> + slot), its node and
/// device ids (<c>disk&lt;slot&gt;</c>), so that a migration's target
/// and a snapshot's restore get exactly the devices the source had, wherever they were hot-plugged. The format is
/// always given to QEMU; it is never probed.
/// </summary>
/// <param name="Slot">0 to <see cref="MaxDisks"/> - 1, unique within the VM.</param>
/// <param name="Path">The volume file (absolute; resolved under its pool's root by whoever built the spec).</param>
/// <param name="Format"><c>qcow2</c> or <c>raw</c>.</param>
/// <param name="Serial">What the guest reads as the disk's serial number (the volume's name, at most 20 characters).</param>
public sealed partial record DiskSpec(int Slot, string Path, string Format, string Serial)
{
    public const int MaxDisks = 16;

    /// <summary>The PCIe slot number of disk 0's root port (the NICs' ports have the numbers below).</summary>
    public const int FirstPciSlot = 0x10;

    public const int MaxSerialLength = 20;

    /// <summary>QEMU's node name of the disk's format layer (what block jobs, NBD exports and resizes name).</summary>
    public string NodeName => $"disk{Slot}";

    /// <summary>QEMU's id of the disk's virtio-blk device.</summary>
    public string DeviceId => $"disk{Slot}-dev";

    public int PciSlot => FirstPciSlot + Slot;


    /// <summary>Throws <see cref="HypervisorException"/> (<c>InvalidRequest</c>) unless the disk can go on a QEMU command line as it is.</summary>
    public void EnsureValid()
    {
        if (Slot < 0 || Slot >= MaxDisks)
        {
            throw Invalid($"disk slot {Slot} is out of range 0–{MaxDisks - 1}");
        }

        if (string.IsNullOrEmpty(Path) || !System.IO.Path.IsPathFullyQualified(Path) || Path.Contains('\0', StringComparison.Ordinal))
        {
            throw Invalid($"disk {Slot}: '{Path}' is not an absolute path");
        }

        if (Format is not ("qcow2" or "raw"))
        {
            throw Invalid($"disk {Slot}: format '{Format}' is not qcow2 or raw");
        }

        if (Serial is null || Serial.Length > MaxSerialLength || !SafeSerial().IsMatch(Serial))
        {
            throw Invalid($"disk {Slot}: serial '{Serial}' must be 1–{MaxSerialLength} characters of a-z, 0-9 and '-'");
        }
    }

    private static HypervisorException Invalid(string message) => new(HypervisorErrorKind.InvalidRequest, message);

    [GeneratedRegex("^[a-z0-9-]+\\z", RegexOptions.CultureInvariant)]
    private static partial Regex SafeSerial();
}
