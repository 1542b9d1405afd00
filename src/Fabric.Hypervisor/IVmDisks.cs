namespace Fabric.Hypervisor;

/// <summary>
/// Disks of a running VM's process, changed while the guest runs: hot-plug (QMP <c>blockdev-add</c> +
/// <c>device_add</c> of a virtio-blk device), unplug (<c>device_del</c>, which the guest must acknowledge, then
/// <c>blockdev-del</c>) and online growth (<c>block_resize</c>). The driver keeps the process's current disks beside it,
/// so they are known again after a re-attach; snapshots and migrations take them from there.
/// </summary>
public interface IVmDisks
{
    /// <summary>The disks of the VM's live process, by slot (launched with or hot-plugged since).</summary>
    IReadOnlyList<DiskSpec> Disks(string vm);

    /// <summary>
    /// Hot-plugs <paramref name="disk"/>; harmless when that disk is already in its slot. <c>Conflict</c> when another
    /// disk holds the slot or the VM has no live process.
    /// </summary>
    Task AttachDiskAsync(string vm, DiskSpec disk, CancellationToken cancellationToken);

    /// <summary>
    /// Unplugs the disk in <paramref name="slot"/> and waits for the guest to release it (<c>Failed</c>, with the disk
    /// left attached, when the guest does not within <paramref name="timeout"/>); harmless when the slot is empty.
    /// </summary>
    Task DetachDiskAsync(string vm, int slot, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Grows the disk in <paramref name="slot"/> to <paramref name="sizeBytes"/> while the guest runs.</summary>
    Task ResizeDiskAsync(string vm, int slot, long sizeBytes, CancellationToken cancellationToken);
}
