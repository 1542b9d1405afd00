using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// What disks (<see cref="IVmDisks"/>) and NICs (<see cref="IVmNics"/>) of a running process share: one change of a
/// VM's devices at a time, the devices QEMU holds, and the unplug that waits for the guest to let a device go.
/// </summary>
public sealed partial class QemuDriver
{
    /// <summary>One device change (or snapshot, which must see a settled device list) of a VM at a time.</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _deviceLocks = new(StringComparer.Ordinal);

    private QemuVm RequireLive(string vm, string what)
    {
        VmPaths.EnsureSafeName(vm);
        return _vms.TryGetValue(vm, out var qemu) && qemu.Status.IsAlive
            ? qemu
            : throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' has no running process to {what}");
    }

    private async Task<IDisposable> LockDevicesAsync(string vm, CancellationToken cancellationToken)
    {
        var gate = _deviceLocks.GetOrAdd(vm, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Release(gate);
    }

    /// <summary>The ids of the devices the process holds now (QMP <c>qom-list</c> of <c>/machine/peripheral</c>).</summary>
    private static async Task<ImmutableHashSet<string>> PeripheralIdsAsync(QemuVm qemu, CancellationToken cancellationToken) =>
        QemuDevice.PeripheralIds(await qemu.CommandAsync("qom-list", new JsonObject { ["path"] = "/machine/peripheral" }, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Unplugs a device: <c>device_del</c>, then waiting for <c>DEVICE_DELETED</c>, which QEMU reports once the guest
    /// let the device go (ACPI PCI hot-plug). The wait is registered before the request, so an answer that comes at once
    /// is not missed. When it does not come within <paramref name="timeout"/> the device is looked for (the event is
    /// lost when the QMP connection dropped meanwhile): still there is <c>Failed</c>, naming <paramref name="what"/>; the
    /// unplug request stands (QEMU 7.2 accepts a repeated one).
    /// </summary>
    private static async Task UnplugAsync(QemuVm qemu, string deviceId, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deleted = qemu.Expect("DEVICE_DELETED", e => e.GetString("device") == deviceId);
        await qemu.CommandAsync("device_del", new JsonObject { ["id"] = deviceId }, cancellationToken).ConfigureAwait(false);
        if (!await deleted.WaitAsync(timeout, cancellationToken).ConfigureAwait(false)
            && (await PeripheralIdsAsync(qemu, cancellationToken).ConfigureAwait(false)).Contains(deviceId))
        {
            throw new HypervisorException(HypervisorErrorKind.Failed,
                $"vm '{qemu.Name}': the guest did not release {what} within {timeout.TotalSeconds:0.#} s; it stays attached (the unplug request stands)");
        }
    }

    /// <summary>
    /// Hot-plugs a device over its backend. The device is listed first (<paramref name="list"/> with true), so a driver
    /// that dies half-way still knows the process may hold it; then <paramref name="addBackend"/>, then
    /// <c>device_add</c>. When <c>device_add</c> fails, <paramref name="deleteBackend"/> (no backend without its device:
    /// it would hold its file or tap open for nothing); when anything fails, the device is un-listed again.
    /// </summary>
    private static async Task PlugAsync(QemuVm qemu, Action<bool> list, Func<Task> addBackend, JsonObject device, Func<Task> deleteBackend, CancellationToken cancellationToken)
    {
        list(true);
        try
        {
            await addBackend().ConfigureAwait(false);
            try
            {
                await qemu.CommandAsync("device_add", device, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await deleteBackend().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            list(false);
            throw;
        }
    }

    /// <summary>
    /// After a re-attach: the list may name a device whose hot-plug or unplug the previous driver did not finish. One
    /// QEMU no longer holds is dropped from the list (<paramref name="drop"/> deletes its backend, if left, and says
    /// so); one it holds stays, even with an unplug request pending, which a repeated detach finishes.
    /// </summary>
    private async Task ForgetUnpluggedAsync<T>(QemuVm qemu, string kind, ImmutableArray<T> listed, Func<T, string> deviceId, Func<IReadOnlyList<T>, Task> drop, Action<ImmutableArray<T>> write, CancellationToken cancellationToken)
    {
        if (listed.IsEmpty || !qemu.Status.IsAlive)
        {
            return;
        }

        try
        {
            var devices = await PeripheralIdsAsync(qemu, cancellationToken).ConfigureAwait(false);
            var gone = listed.Where(d => !devices.Contains(deviceId(d))).ToList();
            if (gone.Count > 0)
            {
                await drop(gone).ConfigureAwait(false);
                write(listed.RemoveRange(gone));
            }
        }
        catch (HypervisorException ex)
        {
            // The process is attached either way; its list is checked again at the next re-attach.
            LogDevicesReconcileFailed(qemu.Name, kind, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: its {Kind} could not be checked against QEMU at re-attach: {Error}")]
    private partial void LogDevicesReconcileFailed(string vm, string kind, string error);

    private sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
