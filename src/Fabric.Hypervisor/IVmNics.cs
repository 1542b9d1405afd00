namespace Fabric.Hypervisor;

/// <summary>
/// Network interfaces of a running VM's process: hot-plug (QMP <c>netdev_add</c> of the tap + <c>device_add</c> of a
/// virtio-net device), unplug (<c>device_del</c>, which the guest must acknowledge, then <c>netdev_del</c>), and the
/// announcement a migrated guest's NICs make on their new host (<c>announce-self</c>: gratuitous ARP/RARP from each
/// NIC's MAC, so switches and the overlay learn where the guest is now). The driver keeps the process's current NICs
/// beside it, so they are known again after a re-attach; migrations and restores take them from there.
/// </summary>
public interface IVmNics
{
    /// <summary>The NICs of the VM's live process, by slot (launched with or hot-plugged since).</summary>
    IReadOnlyList<NicSpec> Nics(string vm);

    /// <summary>
    /// Hot-plugs <paramref name="nic"/> (its tap must exist); harmless when that NIC is already in its slot.
    /// <c>Conflict</c> when another NIC holds the slot or the VM has no live process.
    /// </summary>
    Task AttachNicAsync(string vm, NicSpec nic, CancellationToken cancellationToken);

    /// <summary>
    /// Unplugs the NIC in <paramref name="slot"/> and waits for the guest to release it (<c>Failed</c>, with the NIC
    /// left attached, when the guest does not within <paramref name="timeout"/>); harmless when the slot is empty.
    /// </summary>
    Task DetachNicAsync(string vm, int slot, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Makes the guest's NICs announce themselves on the network (QMP <c>announce-self</c>); harmless without NICs.</summary>
    Task AnnounceAsync(string vm, CancellationToken cancellationToken);
}
