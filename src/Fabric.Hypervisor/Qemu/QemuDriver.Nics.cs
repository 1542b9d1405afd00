using Fabric.Hypervisor.Confinement;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Fabric.Hypervisor.Qmp;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// NICs of a running process (see <see cref="IVmNics"/>), kept as its disks are (<see cref="IVmDisks"/>): the same tap
/// backend and virtio-net device a launch puts on the command line (<see cref="VirtioNic"/>), added and removed over
/// QMP; the process's list in <see cref="VmPaths.NicsFile"/> (<see cref="NicRecord"/>), written before a hot-plug and
/// after an unplug, checked against QEMU at re-attach. The driver never creates or deletes a tap.
/// </summary>
public sealed partial class QemuDriver : IVmNics
{
    public IReadOnlyList<NicSpec> Nics(string vm)
    {
        VmPaths.EnsureSafeName(vm);
        return _vms.TryGetValue(vm, out var qemu) && qemu.Status.IsAlive ? NicRecord.Read(qemu.Paths.NicsFile, qemu.InstanceId) : [];
    }

    public async Task AttachNicAsync(string vm, NicSpec nic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nic);
        nic.EnsureValid();
        var qemu = RequireLive(vm, "attach a NIC to");
        using var held = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var nics = NicRecord.Read(qemu.Paths.NicsFile, qemu.InstanceId);
        var inSlot = nics.FirstOrDefault(n => n.Slot == nic.Slot);
        if (inSlot is not null && inSlot != nic)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': nic slot {nic.Slot} holds another NIC (tap {inSlot.Tap}, mac {inSlot.Mac})");
        }

        if (nics.FirstOrDefault(n => n.Slot != nic.Slot && (n.Tap == nic.Tap || n.Mac == nic.Mac)) is { } twin)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': its NIC in slot {twin.Slot} already has tap {twin.Tap} or mac {twin.Mac}");
        }

        if ((await PeripheralIdsAsync(qemu, cancellationToken).ConfigureAwait(false)).Contains(nic.DeviceId))
        {
            // Listed: already attached (a repeated request). Not listed: a device nobody accounts for, left alone.
            if (inSlot is null)
            {
                throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': QEMU holds a device {nic.DeviceId} that its NIC list does not name");
            }

            return;
        }

        await PlugAsync(
            qemu,
            listed => new NicRecord(qemu.InstanceId, listed ? nics.Remove(nic).Add(nic) : nics.Remove(nic)).Write(qemu.Paths.NicsFile),
            async () =>
            {
                // A backend without its device is what a hot-plug that died half-way leaves (nothing uses it): start afresh.
                await DeleteNetdevAsync(qemu, nic.NetdevId, cancellationToken).ConfigureAwait(false);
                if (qemu.Uid is { } uid)
                {
                    TapOwner.Give(nic.Tap, uid, _options.NetworkNamespace); // QEMU, unprivileged, may open only a tap it owns.
                }

                await qemu.CommandAsync("netdev_add", VirtioNic.Netdev(nic), cancellationToken).ConfigureAwait(false);
            },
            VirtioNic.DeviceAdd(nic),
            () => TryDeleteNetdevAsync(qemu, nic.NetdevId),
            cancellationToken).ConfigureAwait(false);
        LogNicAttached(vm, nic.Slot, nic.Mac, nic.Tap);
    }

    public async Task DetachNicAsync(string vm, int slot, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (slot is < 0 or >= NicSpec.MaxNics)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"nic slot {slot} is out of range 0–{NicSpec.MaxNics - 1}");
        }

        var qemu = RequireLive(vm, "detach a NIC from");
        using var held = await LockDevicesAsync(vm, cancellationToken).ConfigureAwait(false);
        var nics = NicRecord.Read(qemu.Paths.NicsFile, qemu.InstanceId);
        if (nics.FirstOrDefault(n => n.Slot == slot) is not { } nic)
        {
            return;
        }

        if ((await PeripheralIdsAsync(qemu, cancellationToken).ConfigureAwait(false)).Contains(nic.DeviceId))
        {
            await UnplugAsync(qemu, nic.DeviceId, $"nic {slot} ({nic.Mac})", timeout, cancellationToken).ConfigureAwait(false);
        }

        // A backend added with netdev_add outlives its device: delete it, which closes the tap.
        await DeleteNetdevAsync(qemu, nic.NetdevId, cancellationToken).ConfigureAwait(false);
        new NicRecord(qemu.InstanceId, nics.Remove(nic)).Write(qemu.Paths.NicsFile);
        LogNicDetached(vm, slot, nic.Mac);
    }

    public async Task AnnounceAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = RequireLive(vm, "announce the NICs of");
        var nics = NicRecord.Read(qemu.Paths.NicsFile, qemu.InstanceId);
        if (nics.IsEmpty)
        {
            return;
        }

        await qemu.CommandAsync("announce-self", VirtioNic.Announcement(), cancellationToken).ConfigureAwait(false);
        LogNicsAnnounced(vm, nics.Length);
    }

    /// <summary>
    /// After the first resume of a process launched to receive a stream (a migration's target, a snapshot's restore):
    /// the guest now runs here, so its NICs announce where it is. QEMU announces by itself when an incoming migration
    /// completes (5 rounds from 50 ms, <c>announce-*</c> parameters), but that is while the target still waits, paused,
    /// for the fabric's switch-over; this one comes once the guest runs, and it also makes the guest send its own
    /// gratuitous ARPs (virtio-net's guest announce). A failure is logged, not thrown: the guest runs either way.
    /// </summary>
    private async Task AnnounceArrivalAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        if (!qemu.TakePendingArrival())
        {
            return;
        }

        try
        {
            await AnnounceAsync(qemu.Name, cancellationToken).ConfigureAwait(false);
        }
        catch (HypervisorException ex)
        {
            LogAnnounceFailed(qemu.Name, ex.Message);
        }
    }

    /// <summary>
    /// Refuses a launch with a NIC that could not go on the command line, or NICs that share a slot, a tap or a MAC
    /// (QEMU would fail later, less clearly, or not at all), before anything of the launch is on disk.
    /// </summary>
    private static void EnsureValidNics(ImmutableArray<NicSpec> nics)
    {
        foreach (var nic in nics)
        {
            nic.EnsureValid();
        }

        foreach (var (what, key) in new (string, Func<NicSpec, object>)[] { ("nic slot", n => n.Slot), ("tap", n => n.Tap), ("mac", n => n.Mac) })
        {
            if (nics.GroupBy(key).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"{what} {twice.Key} is given to {twice.Count()} NICs");
            }
        }
    }

    /// <summary>After a re-attach: a listed NIC whose device is gone is dropped, and its backend, if left, deleted.</summary>
    private Task ReconcileNicsAsync(QemuVm qemu, CancellationToken cancellationToken) =>
        ForgetUnpluggedAsync(
            qemu,
            "NICs",
            NicRecord.Read(qemu.Paths.NicsFile, qemu.InstanceId),
            n => n.DeviceId,
            async gone =>
            {
                foreach (var nic in gone)
                {
                    await TryDeleteNetdevAsync(qemu, nic.NetdevId).ConfigureAwait(false);
                    LogNicForgotten(qemu.Name, nic.Slot, nic.Mac);
                }
            },
            left => new NicRecord(qemu.InstanceId, left).Write(qemu.Paths.NicsFile),
            cancellationToken);

    /// <summary>
    /// <c>netdev_del</c>, where a backend that does not exist is no error. QEMU 7.2 cannot list backends over QMP
    /// (<c>query-netdev</c> came later), so deleting is how to make sure one is gone.
    /// </summary>
    private static async Task DeleteNetdevAsync(QemuVm qemu, string netdevId, CancellationToken cancellationToken)
    {
        try
        {
            await qemu.CommandAsync("netdev_del", new JsonObject { ["id"] = netdevId }, cancellationToken).ConfigureAwait(false);
        }
        catch (HypervisorException ex) when (ex.InnerException is QmpCommandException { ErrorClass: "DeviceNotFound" })
        {
        }
    }

    private async Task TryDeleteNetdevAsync(QemuVm qemu, string netdevId)
    {
        try
        {
            await DeleteNetdevAsync(qemu, netdevId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HypervisorException ex)
        {
            LogNicCleanupFailed(qemu.Name, netdevId, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: nic {Slot} ({Mac}) attached on tap {Tap}")]
    private partial void LogNicAttached(string vm, int slot, string mac, string tap);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: nic {Slot} ({Mac}) detached")]
    private partial void LogNicDetached(string vm, int slot, string mac);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: announced its {Count} NICs (announce-self)")]
    private partial void LogNicsAnnounced(string vm, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: its NICs could not be announced after it arrived: {Error}")]
    private partial void LogAnnounceFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: nic {Slot} ({Mac}) was listed but its device is gone (a hot-plug or unplug left unfinished); dropped from the list")]
    private partial void LogNicForgotten(string vm, int slot, string mac);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: network backend {Netdev} could not be deleted: {Error}")]
    private partial void LogNicCleanupFailed(string vm, string netdev, string error);
}
