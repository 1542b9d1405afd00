using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Fabric.Hypervisor;

namespace Fabric.Grains.Host;

/// <summary>
/// The host's side of storage (<see cref="IHostStorage"/>): pool files through the driver's <see cref="IVolumeStore"/>
/// (qemu-img runs off the grain's scheduler), and the disks of the VMs placed here, which live in their ledger entries
/// so that every launch — a start, a migration's target, a snapshot's restore — gets exactly the disks the VM holds.
/// </summary>
internal sealed partial class HostGrain : IHostStorage
{
    /// <summary>How long a guest gets to let an unplugged disk go.</summary>
    private static readonly TimeSpan DetachTimeout = TimeSpan.FromSeconds(15);

    Task<StorageUsage> IHostStorage.PreparePool(PoolLocation pool) =>
        StoreAsync(pool, (store, root) => store.PreparePoolAsync(root, CancellationToken.None), ToUsage);

    Task<StorageUsage> IHostStorage.MeasurePool(PoolLocation pool) =>
        StoreAsync(pool, (store, root) => store.MeasurePoolAsync(root, CancellationToken.None), ToUsage);

    Task IHostStorage.RemovePool(PoolLocation pool) =>
        StoreAsync(pool, async (store, root) =>
        {
            await store.RemovePoolAsync(root, CancellationToken.None);
            return true;
        }, _ => true);

    Task<VolumeFileInfo> IHostStorage.CreateVolume(PoolLocation pool, VolumeFileRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var source = request.Image is null ? null : new VolumeSource(request.Image, request.ImageFormat ?? "", request.Full);
        return StoreAsync(pool, async (store, root) =>
        {
            // A host that joined after the pool was made has no directories yet: making them is idempotent.
            await store.PreparePoolAsync(root, CancellationToken.None);
            return await store.CreateVolumeAsync(root, new VolumeRequest(request.Volume, request.SizeBytes, source), CancellationToken.None);
        }, ToFileInfo);
    }

    Task<ImmutableDictionary<string, long>> IHostStorage.MeasureVolumes(PoolLocation pool) =>
        StoreAsync(pool, (store, root) => store.MeasureVolumesAsync(root, CancellationToken.None), sizes => sizes.ToImmutableDictionary(StringComparer.Ordinal));

    Task<VolumeFileInfo> IHostStorage.ResizeVolume(PoolLocation pool, string volume, long sizeBytes)
    {
        if (_entries.Values.FirstOrDefault(e => e.Fenced is null && e.Disks.Any(d => d.Pool == pool.Pool && d.Volume == volume)) is { } holder)
        {
            throw FabricException.Conflict($"volume '{pool.Pool}/{volume}' is a disk of vm '{holder.Vm}' on host '{Name}'; it grows through that VM");
        }

        return StoreAsync(pool, (store, root) => store.ResizeVolumeAsync(root, volume, sizeBytes, CancellationToken.None), ToFileInfo);
    }

    Task<VolumeFileInfo?> IHostStorage.InspectVolume(PoolLocation pool, string volume) =>
        StoreAsync(pool, (store, root) => store.InspectVolumeAsync(root, volume, CancellationToken.None), file => file is null ? null : ToFileInfo(file));

    Task IHostStorage.DeleteVolume(PoolLocation pool, string volume) =>
        StoreAsync(pool, async (store, root) =>
        {
            await store.DeleteVolumeAsync(root, volume, CancellationToken.None);
            return true;
        }, _ => true);

    Task<ImageFileInfo> IHostStorage.ImportImage(PoolLocation pool, string image, string file) =>
        StoreAsync(pool, async (store, root) =>
        {
            await store.PreparePoolAsync(root, CancellationToken.None);
            return await store.ImportImageAsync(root, image, file, CancellationToken.None);
        }, imported => new ImageFileInfo(imported.Format, imported.VirtualBytes, imported.PhysicalBytes));

    Task IHostStorage.DeleteImage(PoolLocation pool, string image, string format) =>
        StoreAsync(pool, async (store, root) =>
        {
            await store.DeleteImageAsync(root, image, format, CancellationToken.None);
            return true;
        }, _ => true);

    async Task IHostStorage.AttachDisk(VmAssignment assignment, DiskPlacement disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        var entry = RequireEntry(assignment);
        RequireNoMigration(entry, "attach a disk to");
        var vm = assignment.Vm;
        var stored = LedgerDisk.From(disk);
        if (entry.Disks.FirstOrDefault(d => d.Slot == disk.Slot) is { } held && held != stored)
        {
            throw FabricException.Conflict($"vm '{vm}': disk slot {disk.Slot} on host '{Name}' holds {held.Pool}/{held.Volume}");
        }

        var spec = DiskSpecOf(stored);
        await SaveAsync(entry with { Disks = [.. entry.Disks.Where(d => d.Slot != disk.Slot).Append(stored).OrderBy(d => d.Slot)] });
        if (!HasProcess(vm))
        {
            return; // The next launch brings it.
        }

        try
        {
            await Task.Run(() => RequireDisks().AttachDiskAsync(vm, spec, CancellationToken.None));
        }
        catch (Exception ex)
        {
            if (_entries.TryGetValue(vm, out var now) && now.Epoch == entry.Epoch)
            {
                await SaveAsync(now with { Disks = [.. now.Disks.Where(d => d.Slot != disk.Slot)] });
            }

            throw ex is HypervisorException hypervisor ? hypervisor.ToFabric() : ex;
        }
    }

    async Task IHostStorage.DetachDisk(VmAssignment assignment, int slot)
    {
        var entry = RequireEntry(assignment);
        RequireNoMigration(entry, "detach a disk from");
        var vm = assignment.Vm;
        if (entry.Disks.All(d => d.Slot != slot))
        {
            return;
        }

        // The guest lets go first; only then does the ledger forget the disk (a refusal leaves it attached and recorded).
        if (HasProcess(vm))
        {
            await Driver(() => Task.Run(() => RequireDisks().DetachDiskAsync(vm, slot, DetachTimeout, CancellationToken.None)));
        }

        if (_entries.TryGetValue(vm, out var now) && now.Epoch == entry.Epoch)
        {
            await SaveAsync(now with { Disks = [.. now.Disks.Where(d => d.Slot != slot)] });
        }
    }

    async Task IHostStorage.ResizeDisk(VmAssignment assignment, int slot, long sizeBytes)
    {
        var entry = RequireEntry(assignment);
        RequireNoMigration(entry, "resize a disk of");
        var disk = entry.Disks.FirstOrDefault(d => d.Slot == slot)
            ?? throw new FabricException(ErrorCodes.NotFound, $"vm '{assignment.Vm}' has no disk in slot {slot} on host '{Name}'");
        if (HasProcess(assignment.Vm))
        {
            await Driver(() => Task.Run(() => RequireDisks().ResizeDiskAsync(assignment.Vm, slot, sizeBytes, CancellationToken.None)));
            return;
        }

        await StoreAsync(disk.ToPlacement().Pool, (store, root) => store.ResizeVolumeAsync(root, disk.Volume, sizeBytes, CancellationToken.None), ToFileInfo);
    }

    async Task<string> IHostStorage.ExportDisks(VmAssignment assignment, ImmutableArray<int> slots)
    {
        var entry = RequireEntry(assignment);
        if (entry.Incoming is null)
        {
            throw FabricException.Conflict($"vm '{assignment.Vm}': its placement on host '{Name}' (epoch {entry.Epoch}) is not a migration's target");
        }

        var mirror = RequireMirror();
        return await Driver(() => Task.Run(() => mirror.ExportDisksAsync(assignment.Vm, _address, slots, CancellationToken.None)));
    }

    async Task IHostStorage.EndExport(VmAssignment assignment)
    {
        RequireEntry(assignment);
        if (!HasProcess(assignment.Vm))
        {
            return;
        }

        var mirror = RequireMirror();
        await Driver(() => Task.Run(() => mirror.EndExportAsync(assignment.Vm, CancellationToken.None)));
    }

    async Task IHostStorage.StartMirror(VmAssignment assignment, string endpoint, ImmutableArray<int> slots, long? bandwidthBytesPerSecond)
    {
        RequireRunning(assignment, "mirror the disks of");
        var mirror = RequireMirror();
        await Driver(() => Task.Run(() => mirror.StartMirrorAsync(assignment.Vm, endpoint, slots, bandwidthBytesPerSecond, CancellationToken.None)));
    }

    async Task<ImmutableArray<DiskMirrorState>> IHostStorage.QueryMirror(string vm, long epoch)
    {
        if (!_entries.TryGetValue(vm, out var entry) || entry.Epoch != epoch || !_driver.GetStatus(vm).IsAlive || _driver.Capability<IDiskMirror>() is not { } mirror)
        {
            return [];
        }

        var progress = await Driver(() => Task.Run(() => mirror.QueryMirrorAsync(vm, CancellationToken.None)));
        return [.. progress.Select(p => new DiskMirrorState(p.Slot, p.Ready, p.CopiedBytes, p.TotalBytes, p.Error))];
    }

    async Task IHostStorage.EndMirror(VmAssignment assignment)
    {
        RequireEntry(assignment);
        if (!HasProcess(assignment.Vm))
        {
            return;
        }

        var mirror = RequireMirror();
        await Driver(() => Task.Run(() => mirror.EndMirrorAsync(assignment.Vm, CancellationToken.None)));
    }

    /// <summary>What the driver launches for the entry's instance: its resources, image and disks.</summary>
    private LaunchSpec LaunchSpecOf(LedgerEntry entry, Guid instance) =>
        new(entry.Vm, entry.Epoch, instance, entry.VCpus, (int)entry.MemoryMiB, entry.Image)
        {
            Disks = [.. entry.Disks.Select(DiskSpecOf)],
        };

    /// <summary>A disk as the driver needs it; the store resolves the path under the pool's root (no symlink on the way).</summary>
    private DiskSpec DiskSpecOf(LedgerDisk disk)
    {
        var root = disk.ToPlacement().Pool.RootOn(Name);
        try
        {
            var path = RequireStore().VolumePath(root, disk.Volume);
            return new DiskSpec(disk.Slot, path, "qcow2", disk.Volume.Length > DiskSpec.MaxSerialLength ? disk.Volume[..DiskSpec.MaxSerialLength].TrimEnd('-') : disk.Volume);
        }
        catch (HypervisorException ex)
        {
            throw ex.ToFabric();
        }
    }

    private async Task<TResult> StoreAsync<T, TResult>(PoolLocation pool, Func<IVolumeStore, string, Task<T>> call, Func<T, TResult> map)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Names.Require("pool", pool.Pool);
        StoragePaths.RequireAbsolute("path", pool.Path);
        var store = RequireStore();
        var root = pool.RootOn(Name);

        // qemu-img and file I/O run off the grain's scheduler.
        return map(await Driver(() => Task.Run(() => call(store, root))));
    }

    private IVolumeStore RequireStore() =>
        _driver.Capability<IVolumeStore>() ?? throw FabricException.Unavailable($"host '{Name}': its {_driver.Kind} driver has no storage");

    private IDiskMirror RequireMirror() =>
        _driver.Capability<IDiskMirror>() ?? throw FabricException.Unavailable($"host '{Name}': its {_driver.Kind} driver cannot mirror disks");

    private IVmDisks RequireDisks() =>
        _driver.Capability<IVmDisks>() ?? throw FabricException.Unavailable($"host '{Name}': its {_driver.Kind} driver cannot change disks");

    private static StorageUsage ToUsage(PoolUsage usage) => new(usage.UsedBytes, usage.FilesystemBytes, usage.FilesystemFreeBytes);

    private static VolumeFileInfo ToFileInfo(VolumeFile file) => new(file.VirtualBytes, file.PhysicalBytes, file.BackingFile, file.BackingFormat);
}
