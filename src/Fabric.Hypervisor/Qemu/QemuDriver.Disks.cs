using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Disks of a running process (see <see cref="IVmDisks"/>): the same <c>-blockdev</c> node and virtio-blk device a
/// launch puts on the command line (<see cref="VirtioDisk"/>), added and removed over QMP. The process's list is kept in
/// <see cref="VmPaths.DisksFile"/> (<see cref="DiskRecord"/>): written before a hot-plug and after an unplug, so it
/// always names every disk the process may hold; a re-attach checks it against QEMU.
/// </summary>
public sealed partial class QemuDriver : IVmDisks
{
    public IReadOnlyList<DiskSpec> Disks(string vm)
    {
        VmPaths.EnsureSafeName(vm);
        return _vms.TryGetValue(vm, out var qemu) && qemu.Status.IsAlive ? DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId) : [];
    }

    public async Task AttachDiskAsync(string vm, DiskSpec disk, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(disk);
        disk.EnsureValid();
        var qemu = RequireLive(vm, "attach a disk to");
        using var held = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var disks = DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId);
        var inSlot = disks.FirstOrDefault(d => d.Slot == disk.Slot);
        if (inSlot is not null && inSlot != disk)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': disk slot {disk.Slot} holds another disk ({inSlot.Serial}, {inSlot.Path})");
        }

        if (disks.FirstOrDefault(d => d.Slot != disk.Slot && d.Path == disk.Path) is { } twin)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': '{disk.Path}' is already its disk in slot {twin.Slot}");
        }

        var state = await ReadDiskStateAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (inSlot is not null && state.Devices.Contains(disk.DeviceId))
        {
            return; // Already attached (a repeated request).
        }

        await PlugAsync(
            qemu,
            listed => new DiskRecord(qemu.InstanceId, listed ? disks.Remove(disk).Add(disk) : disks.Remove(disk)).Write(qemu.Paths.DisksFile),
            async () =>
            {
                if (!state.Nodes.ContainsKey(disk.NodeName))
                {
                    // QEMU opens the file as the VM's uid: checked, then given to it, just before.
                    EnsureAllowedDisk(disk);
                    if (qemu.Uid is { } uid)
                    {
                        GiveDisk(disk, uid);
                    }

                    await qemu.CommandAsync("blockdev-add", VirtioDisk.Blockdev(disk), cancellationToken).ConfigureAwait(false);
                }
            },
            VirtioDisk.DeviceAdd(disk),
            () => TryDeleteNodeAsync(qemu, disk.NodeName),
            cancellationToken).ConfigureAwait(false);
        LogDiskAttached(vm, disk.Slot, disk.Serial, disk.Path);
    }

    public async Task DetachDiskAsync(string vm, int slot, TimeSpan timeout, CancellationToken cancellationToken)
    {
        EnsureSlot(slot);
        var qemu = RequireLive(vm, "detach a disk from");
        using var held = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var disks = DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId);
        if (disks.FirstOrDefault(d => d.Slot == slot) is not { } disk)
        {
            return;
        }

        var state = await ReadDiskStateAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (state.Devices.Contains(disk.DeviceId))
        {
            await UnplugAsync(qemu, disk.DeviceId, $"disk {slot} ({disk.Serial})", timeout, cancellationToken).ConfigureAwait(false);
        }

        // A node added with blockdev-add outlives its device: delete it, which closes the file.
        if (state.Nodes.ContainsKey(disk.NodeName))
        {
            await qemu.CommandAsync("blockdev-del", new JsonObject { ["node-name"] = disk.NodeName }, cancellationToken).ConfigureAwait(false);
        }

        new DiskRecord(qemu.InstanceId, disks.Remove(disk)).Write(qemu.Paths.DisksFile);
        TakeDiskBack(disk);
        LogDiskDetached(vm, slot, disk.Serial);
    }

    public async Task ResizeDiskAsync(string vm, int slot, long sizeBytes, CancellationToken cancellationToken)
    {
        EnsureSlot(slot);
        if (sizeBytes <= 0 || sizeBytes % 512 != 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"a disk's size must be a positive multiple of 512 bytes, not {sizeBytes}");
        }

        var qemu = RequireLive(vm, "resize a disk of");
        using var held = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var disk = DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId).FirstOrDefault(d => d.Slot == slot)
            ?? throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{vm}' has no disk in slot {slot}");
        var state = await ReadDiskStateAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (!state.Nodes.TryGetValue(disk.NodeName, out var node))
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': disk {slot} ({disk.Serial}) is listed but QEMU has no node {disk.NodeName}");
        }

        if (sizeBytes < node.VirtualBytes)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"vm '{vm}': disk {slot} is {node.VirtualBytes} bytes; a disk only grows (asked for {sizeBytes})");
        }

        if (sizeBytes == node.VirtualBytes)
        {
            return;
        }

        // The guest hears of it at once (virtio config change), and sees the new size without a rescan.
        await qemu.CommandAsync("block_resize", new JsonObject { ["node-name"] = disk.NodeName, ["size"] = sizeBytes }, cancellationToken).ConfigureAwait(false);
        LogDiskResized(vm, slot, node.VirtualBytes, sizeBytes);
    }

    /// <summary>Refuses a launch whose disks share a slot or a file (QEMU would fail later, less clearly).</summary>
    private static void EnsureDistinctDisks(ImmutableArray<DiskSpec> disks)
    {
        if (disks.GroupBy(d => d.Slot).FirstOrDefault(g => g.Count() > 1) is { } slot)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"disk slot {slot.Key} is given {slot.Count()} times");
        }

        if (disks.GroupBy(d => d.Path, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } path)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"'{path.Key}' is given as {path.Count()} disks");
        }
    }

    /// <summary>After a re-attach: a listed disk whose device is gone is dropped, and its node, if left, deleted.</summary>
    private Task ReconcileDisksAsync(QemuVm qemu, CancellationToken cancellationToken) =>
        ForgetUnpluggedAsync(
            qemu,
            "disks",
            DiskRecord.Read(qemu.Paths.DisksFile, qemu.InstanceId),
            d => d.DeviceId,
            async gone =>
            {
                var nodes = (await ReadDiskStateAsync(qemu, cancellationToken).ConfigureAwait(false)).Nodes;
                foreach (var disk in gone)
                {
                    if (nodes.ContainsKey(disk.NodeName))
                    {
                        await TryDeleteNodeAsync(qemu, disk.NodeName).ConfigureAwait(false);
                    }

                    LogDiskForgotten(qemu.Name, disk.Slot, disk.Serial);
                }
            },
            left => new DiskRecord(qemu.InstanceId, left).Write(qemu.Paths.DisksFile),
            cancellationToken);

    /// <summary>The user-created devices and the named block nodes of the process, as QEMU has them now.</summary>
    private static async Task<DiskState> ReadDiskStateAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var devices = await PeripheralIdsAsync(qemu, cancellationToken).ConfigureAwait(false);
        var nodes = await qemu.CommandAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false);
        return new DiskState(devices, VirtioDisk.BlockNodes(nodes));
    }

    private async Task TryDeleteNodeAsync(QemuVm qemu, string nodeName)
    {
        try
        {
            await qemu.CommandAsync("blockdev-del", new JsonObject { ["node-name"] = nodeName }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HypervisorException ex)
        {
            LogDiskCleanupFailed(qemu.Name, nodeName, ex.Message);
        }
    }

    private static void EnsureSlot(int slot)
    {
        if (slot is < 0 or >= DiskSpec.MaxDisks)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"disk slot {slot} is out of range 0–{DiskSpec.MaxDisks - 1}");
        }
    }

    private sealed record DiskState(ImmutableHashSet<string> Devices, ImmutableDictionary<string, BlockNode> Nodes);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: disk {Slot} ({Serial}) attached: {Path}")]
    private partial void LogDiskAttached(string vm, int slot, string serial, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: disk {Slot} ({Serial}) detached")]
    private partial void LogDiskDetached(string vm, int slot, string serial);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: disk {Slot} grown from {FromBytes} to {ToBytes} bytes")]
    private partial void LogDiskResized(string vm, int slot, long fromBytes, long toBytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: disk {Slot} ({Serial}) was listed but its device is gone (a hot-plug or unplug left unfinished); dropped from the list")]
    private partial void LogDiskForgotten(string vm, int slot, string serial);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: block node {Node} could not be deleted: {Error}")]
    private partial void LogDiskCleanupFailed(string vm, string node, string error);
}
