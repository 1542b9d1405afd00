using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Storage pools, their volumes and images (<see cref="IStoragePoolGrain"/>), and VMs' disks (<see cref="IVmVolumes"/>).</summary>
public sealed partial class FabricClient
{
    public Task<PoolInfo> CreatePoolAsync(PoolSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Call(() => Pool(spec.Name).Create(spec));
    }

    /// <summary>The pool, its physical use measured from its files now.</summary>
    public Task<PoolInfo> GetPoolAsync(string pool) => Call(() => Pool(pool).Get());

    /// <summary>Every pool, by name.</summary>
    public async Task<ImmutableArray<PoolInfo>> ListPoolsAsync()
    {
        var names = await Call(() => _client.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).List());
        var pools = ImmutableArray.CreateBuilder<PoolInfo>(names.Length);
        foreach (var name in names)
        {
            try
            {
                pools.Add(await GetPoolAsync(name));
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
            {
                // Deleted between the directory's answer and this one.
            }
        }

        return pools.ToImmutable();
    }

    public Task DeletePoolAsync(string pool) => Call(async () =>
    {
        await Pool(pool).Delete();
        return true;
    });

    /// <summary>Creates a volume (empty, or from an image of the pool: a linked clone, or a full copy).</summary>
    public async Task<VolumeInfo> CreateVolumeAsync(string pool, VolumeSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var created = await Call(() => Pool(pool).CreateVolume(spec, forVm: null));
        return created.Volume;
    }

    public Task<VolumeInfo> GetVolumeAsync(string pool, string volume) => Call(() => Pool(pool).GetVolume(Names.Require("volume", volume)));

    /// <summary>The pool's volumes, or (no pool given) every pool's.</summary>
    public async Task<ImmutableArray<VolumeInfo>> ListVolumesAsync(string? pool = null)
    {
        if (pool is not null)
        {
            return await Call(() => Pool(pool).ListVolumes());
        }

        var names = await Call(() => _client.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).List());
        var volumes = ImmutableArray.CreateBuilder<VolumeInfo>();
        foreach (var name in names)
        {
            try
            {
                volumes.AddRange(await Call(() => Pool(name).ListVolumes()));
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
            {
                // Deleted meanwhile.
            }
        }

        return volumes.ToImmutable();
    }

    /// <summary>
    /// Grows a volume: through its VM when it is a disk of one (live while the VM runs), else its file directly.
    /// </summary>
    public async Task<VolumeInfo> ResizeVolumeAsync(string pool, string volume, long sizeBytes)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await GetVolumeAsync(pool, volume);
            try
            {
                if (current.AttachedTo is { } vm)
                {
                    await Call(() => Volumes(vm).ResizeVolume(pool, volume, sizeBytes));
                    return await GetVolumeAsync(pool, volume);
                }

                return await Call(() => Pool(pool).ResizeVolume(volume, sizeBytes));
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Conflict && attempt < 2)
            {
                // Attached or detached between the look and the resize: look again.
            }
        }
    }

    public Task DeleteVolumeAsync(string pool, string volume) => Call(async () =>
    {
        await Pool(pool).DeleteVolume(Names.Require("volume", volume));
        return true;
    });

    /// <summary>Imports a file the hosts can read (an absolute path on the hosts) as an image of the pool.</summary>
    public Task<ImageInfo> ImportImageAsync(string pool, string image, string file) =>
        Call(() => Pool(pool).ImportImage(Names.Require("image", image), StoragePaths.RequireAbsolute("file", file)));

    /// <summary>The pool's images, or (no pool given) every pool's.</summary>
    public async Task<ImmutableArray<ImageInfo>> ListImagesAsync(string? pool = null)
    {
        var names = pool is null ? await Call(() => _client.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).List()) : [pool];
        var images = ImmutableArray.CreateBuilder<ImageInfo>();
        foreach (var name in names)
        {
            try
            {
                images.AddRange(await Call(() => Pool(name).ListImages()));
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound && pool is null)
            {
                // Deleted meanwhile.
            }
        }

        return images.ToImmutable();
    }

    public Task DeleteImageAsync(string pool, string image) => Call(async () =>
    {
        await Pool(pool).DeleteImage(Names.Require("image", image));
        return true;
    });

    /// <summary>Makes a volume a disk of the VM: hot-plugged when it runs, else on its next start.</summary>
    public Task<VmInfo> AttachVolumeAsync(string vm, string pool, string volume) => Call(() => Volumes(vm).AttachVolume(pool, volume));

    /// <summary>Unplugs a disk from the VM (the guest must let it go); the volume stays in its pool.</summary>
    public Task<VmInfo> DetachVolumeAsync(string vm, string pool, string volume) => Call(() => Volumes(vm).DetachVolume(pool, volume));

    private IStoragePoolGrain Pool(string name) => _client.GetGrain<IStoragePoolGrain>(Names.Require("pool", name));

    private IVmVolumes Volumes(string vm) => _client.GetGrain<IVmVolumes>(Names.Require("name", vm));
}
