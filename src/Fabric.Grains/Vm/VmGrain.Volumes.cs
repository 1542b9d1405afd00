using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>
/// The VM's disks (<see cref="IVmVolumes"/>). The VM's record lists them (slot, pool, volume); the pool records which
/// VM holds each volume (claimed before the VM records it, given back after the VM forgets it); the host's ledger
/// entry lists what the process is launched with. Calls flow VM → pool and VM → host only.
/// </summary>
internal sealed partial class VmGrain : IVmVolumes
{
    /// <summary>VM names are at most 63 characters; a new volume's name is the VM's (shortened) plus <c>-disk&lt;slot&gt;</c>.</summary>
    private const int VolumeStemLength = Names.MaxLength - 7;

    async Task<VmInfo> IVmVolumes.AttachVolume(string pool, string volume)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        Names.Require("pool", pool);
        Names.Require("volume", volume);
        RequireSettledForDevices("attach a volume to");
        if (Record.Disks.Any(d => d.Pool == pool && d.Volume == volume))
        {
            return Info(full: true);
        }

        var slot = Enumerable.Range(0, VmDisk.MaxPerVm).FirstOrDefault(s => Record.Disks.All(d => d.Slot != s), -1);
        if (slot < 0)
        {
            throw FabricException.Conflict($"vm '{Name}' already has {VmDisk.MaxPerVm} disks");
        }

        if (Record.Placed)
        {
            RequireHostUp(Record.Host);
        }

        var poolGrain = GrainFactory.GetGrain<IStoragePoolGrain>(pool);
        var claimed = await poolGrain.Claim(volume, Name);
        var disk = Row(slot, claimed, deleteWithVm: false);
        try
        {
            if (claimed.Volume.Host is { } volumeHost && Record.Placed && volumeHost != Record.Host)
            {
                throw FabricException.Conflict($"volume '{pool}/{volume}' lives on host '{volumeHost}' (local pool) but vm '{Name}' is on host '{Record.Host}'");
            }

            var next = Record.Copy();
            next.Disks = [.. Record.Disks.Append(disk).OrderBy(d => d.Slot)];
            await WriteAsync(next);
        }
        catch
        {
            await poolGrain.Release(volume, Name, delete: false);
            throw;
        }

        if (Record.Placed)
        {
            try
            {
                await GrainFactory.GetGrain<IHostStorage>(Record.Host).AttachDisk(Record.Assignment(Name), disk.Placement);
            }
            catch (Exception ex)
            {
                var undone = Record.Copy();
                undone.Disks = [.. Record.Disks.Where(d => d.Slot != slot)];
                await WriteAsync(undone);
                await poolGrain.Release(volume, Name, delete: false);
                throw HostCalls.ToFabric(ex, Record.Host);
            }
        }

        await UpdateCatalogAsync();
        return Info(full: true);
    }

    async Task<VmInfo> IVmVolumes.DetachVolume(string pool, string volume)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        var disk = RequireDisk(pool, volume);
        RequireSettledForDevices("detach a volume from");
        if (Record.Placed)
        {
            RequireHostUp(Record.Host);
            try
            {
                await GrainFactory.GetGrain<IHostStorage>(Record.Host).DetachDisk(Record.Assignment(Name), disk.Slot);
            }
            catch (Exception ex)
            {
                throw HostCalls.ToFabric(ex, Record.Host);
            }
        }

        var next = Record.Copy();
        next.Disks = [.. Record.Disks.Where(d => d.Slot != disk.Slot)];
        await WriteAsync(next);
        await GrainFactory.GetGrain<IStoragePoolGrain>(pool).Release(volume, Name, delete: false);
        await UpdateCatalogAsync();
        return Info(full: true);
    }

    async Task<VmInfo> IVmVolumes.ResizeVolume(string pool, string volume, long sizeBytes)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        var disk = RequireDisk(pool, volume);
        RequireSettledForDevices("resize a volume of");
        if (!Record.Placed)
        {
            throw FabricException.Unavailable($"vm '{Name}' is placed on no host; start it first");
        }

        RequireHostUp(Record.Host);

        // The pool counts the growth first (a resize past its limit fails before any file grows).
        var grown = await GrainFactory.GetGrain<IStoragePoolGrain>(pool).GrowAttached(volume, Name, sizeBytes);
        try
        {
            await GrainFactory.GetGrain<IHostStorage>(Record.Host).ResizeDisk(Record.Assignment(Name), disk.Slot, sizeBytes);
        }
        catch (Exception ex)
        {
            throw HostCalls.ToFabric(ex, Record.Host);
        }

        var next = Record.Copy();
        next.Disks = [.. Record.Disks.Select(d => d.Slot == disk.Slot ? d with { SizeBytes = grown.Volume.SizeBytes } : d)];
        await WriteAsync(next);
        return Info(full: true);
    }

    /// <summary>
    /// The disks a new VM asks for, before it is placed: where each pool is, the name of each volume (new ones named
    /// after the VM), and the hosts the VM must be placed within (those holding its local-pool volumes or images).
    /// </summary>
    private async Task<(ImmutableArray<DiskRow> Disks, HostConstraint? Constraint)> PlanDisksAsync(ImmutableArray<DiskRequest> requests)
    {
        var disks = ImmutableArray.CreateBuilder<DiskRow>(requests.Length);
        HostConstraint? constraint = null;
        for (var slot = 0; slot < requests.Length; slot++)
        {
            var request = requests[slot];
            var pool = GrainFactory.GetGrain<IStoragePoolGrain>(request.Pool);
            var location = await pool.Locate();
            var volume = request.Volume ?? $"{Name[..Math.Min(Name.Length, VolumeStemLength)].TrimEnd('-')}-disk{slot}";
            long size;
            if (request.Volume is not null)
            {
                // Who holds it is the pool's to decide when the VM claims it (a holder that no longer exists frees it).
                var existing = await pool.GetVolume(request.Volume);
                size = existing.SizeBytes;
                if (existing.Host is { } host)
                {
                    constraint = HostConstraint.Intersect(constraint, new HostConstraint([host], $"volume {request.Pool}/{request.Volume} is on host '{host}'"));
                }
            }
            else
            {
                size = request.SizeBytes!.Value;
                if (request.Image is { } imageName && location.Type == PoolType.Local)
                {
                    var image = (await pool.ListImages()).FirstOrDefault(i => i.Name == imageName)
                        ?? throw FabricException.NotFound("image", $"{request.Pool}/{imageName}");
                    constraint = HostConstraint.Intersect(constraint, new HostConstraint([.. image.Hosts], $"image {request.Pool}/{imageName} is on {string.Join(", ", image.Hosts)}"));
                }
            }

            disks.Add(new DiskRow { Slot = slot, Pool = location.Pool, Type = location.Type, Path = location.Path, Volume = volume, SizeBytes = size, DeleteWithVm = request.Volume is null });
        }

        return (disks.ToImmutable(), constraint);
    }

    /// <summary>
    /// Claims the planned disks' volumes, making the new ones on the VM's host; on any failure gives back what it took
    /// (new volumes deleted, existing ones released) and rethrows.
    /// </summary>
    private async Task<ImmutableArray<DiskRow>> AcquireDisksAsync(ImmutableArray<DiskRequest> requests, ImmutableArray<DiskRow> planned, string host)
    {
        var acquired = ImmutableArray.CreateBuilder<DiskRow>(planned.Length);
        try
        {
            foreach (var disk in planned)
            {
                var request = requests[disk.Slot];
                var pool = GrainFactory.GetGrain<IStoragePoolGrain>(disk.Pool);
                var attachment = request.Volume is not null
                    ? await pool.Claim(disk.Volume, Name)
                    : await pool.CreateVolume(
                        new VolumeSpec { Name = disk.Volume, SizeBytes = request.SizeBytes, Image = request.Image, Full = request.Full, Host = disk.Type == PoolType.Local ? host : null },
                        forVm: Name);
                acquired.Add(Row(disk.Slot, attachment, disk.DeleteWithVm));
            }
        }
        catch
        {
            await ReleaseDisksAsync(acquired.ToImmutable(), deleting: true);
            throw;
        }

        return acquired.ToImmutable();
    }

    /// <summary>Gives the volumes back to their pools (those made for the VM are deleted when <paramref name="deleting"/>); failures are logged.</summary>
    private async Task ReleaseDisksAsync(ImmutableArray<DiskRow> disks, bool deleting)
    {
        foreach (var disk in disks)
        {
            try
            {
                await GrainFactory.GetGrain<IStoragePoolGrain>(disk.Pool).Release(disk.Volume, Name, deleting);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The pool treats a volume held by a VM that no longer exists as free (it asks the VM).
                LogVolumeReleaseFailed(Name, disk.Pool, disk.Volume, ex.Message);
            }
        }
    }

    /// <summary>Where a VM with these disks may be placed again: on the hosts of its local-pool volumes.</summary>
    private async Task<HostConstraint?> DiskConstraintAsync(ImmutableArray<DiskRow> disks)
    {
        HostConstraint? constraint = null;
        foreach (var disk in disks.Where(d => d.Type == PoolType.Local))
        {
            var volume = await GrainFactory.GetGrain<IStoragePoolGrain>(disk.Pool).GetVolume(disk.Volume);
            if (volume.Host is { } host)
            {
                constraint = HostConstraint.Intersect(constraint, new HostConstraint([host], $"volume {disk.Pool}/{disk.Volume} is on host '{host}'"));
            }
        }

        return constraint;
    }

    private static DiskRow Row(int slot, VolumeAttachment attachment, bool deleteWithVm) => new()
    {
        Slot = slot,
        Pool = attachment.Location.Pool,
        Type = attachment.Location.Type,
        Path = attachment.Location.Path,
        Volume = attachment.Volume.Name,
        SizeBytes = attachment.Volume.SizeBytes,
        DeleteWithVm = deleteWithVm,
    };

    private DiskRow RequireDisk(string pool, string volume)
    {
        Names.Require("pool", pool);
        Names.Require("volume", volume);
        return Record.Disks.FirstOrDefault(d => d.Pool == pool && d.Volume == volume)
            ?? throw new FabricException(ErrorCodes.NotFound, $"volume '{pool}/{volume}' is not a disk of vm '{Name}'");
    }

    /// <summary>Disks and NICs change only while no start, stop or migration is under way.</summary>
    private void RequireSettledForDevices(string action)
    {
        if (Record.State is VmState.Starting or VmState.Stopping or VmState.Migrating)
        {
            throw FabricException.Conflict($"vm '{Name}' is {Record.State}; cannot {action} it now");
        }
    }
}
