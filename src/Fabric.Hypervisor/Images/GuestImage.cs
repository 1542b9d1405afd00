namespace Fabric.Hypervisor;

public enum GuestBoot
{
    /// <summary>A raw boot disk, booted by the BIOS.</summary>
    Disk,

    /// <summary>A kernel and initramfs, booted directly by QEMU.</summary>
    Kernel,
}

/// <summary>A bootable guest image on this machine (absolute paths, checked to exist when loaded).</summary>
public sealed record GuestImage(
    string Name,
    GuestBoot Boot,
    string? Disk,
    string? Kernel,
    string? Initrd,
    string? KernelCommandLine,
    int MinMemoryMiB,
    string Description);
