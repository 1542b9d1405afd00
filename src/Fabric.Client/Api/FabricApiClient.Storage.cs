using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Storage pools, volumes and images (<c>/v1/pools</c>, <c>/v1/volumes</c>, <c>/v1/images</c>), and VMs' disks.</summary>
public sealed partial class FabricApiClient
{
    public Task<PoolInfo> CreatePoolAsync(PoolSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return PostAsync<PoolInfo>("v1/pools", spec, CancellationToken.None);
    }

    /// <summary>The pool, its physical use measured from its files now.</summary>
    public Task<PoolInfo> GetPoolAsync(string pool) => GetAsync<PoolInfo>($"v1/pools/{Segment(pool)}", CancellationToken.None);

    /// <summary>Every pool, by name.</summary>
    public Task<ImmutableArray<PoolInfo>> ListPoolsAsync() => ListAsync<PoolInfo>("v1/pools", CancellationToken.None);

    public Task DeletePoolAsync(string pool) => SendAsync(HttpMethod.Delete, $"v1/pools/{Segment(pool)}", null, CancellationToken.None);

    /// <summary>Creates a volume (empty, or from an image of the pool: a linked clone, or a full copy).</summary>
    public Task<VolumeInfo> CreateVolumeAsync(string pool, VolumeSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return SendAsync<VolumeInfo>(HttpMethod.Post, $"v1/volumes/{Segment(pool)}", spec, LongOperationTimeout, CancellationToken.None);
    }

    public Task<VolumeInfo> GetVolumeAsync(string pool, string volume) =>
        GetAsync<VolumeInfo>($"v1/volumes/{Segment(pool)}/{Segment(volume)}", CancellationToken.None);

    /// <summary>The pool's volumes, or (no pool given) every pool's.</summary>
    public Task<ImmutableArray<VolumeInfo>> ListVolumesAsync(string? pool = null) =>
        ListAsync<VolumeInfo>(pool is null ? "v1/volumes" : $"v1/volumes?pool={Query(pool)}", CancellationToken.None);

    /// <summary>Grows a volume: through its VM when it is a disk of one (live while the VM runs), else its file directly.</summary>
    public Task<VolumeInfo> ResizeVolumeAsync(string pool, string volume, long sizeBytes) =>
        SendAsync<VolumeInfo>(HttpMethod.Post, $"v1/volumes/{Segment(pool)}/{Segment(volume)}/resize", new ResizeBody(sizeBytes), LongOperationTimeout, CancellationToken.None);

    public Task DeleteVolumeAsync(string pool, string volume) =>
        SendAsync(HttpMethod.Delete, $"v1/volumes/{Segment(pool)}/{Segment(volume)}", null, CancellationToken.None);

    /// <summary>Imports a file the hosts can read (an absolute path on the hosts) as an image of the pool.</summary>
    public Task<ImageInfo> ImportImageAsync(string pool, string image, string file) =>
        SendAsync<ImageInfo>(HttpMethod.Post, $"v1/images/{Segment(pool)}", new ImageBody(image, file), LongOperationTimeout, CancellationToken.None);

    /// <summary>The pool's images, or (no pool given) every pool's.</summary>
    public Task<ImmutableArray<ImageInfo>> ListImagesAsync(string? pool = null) =>
        ListAsync<ImageInfo>(pool is null ? "v1/images" : $"v1/images?pool={Query(pool)}", CancellationToken.None);

    public Task DeleteImageAsync(string pool, string image) =>
        SendAsync(HttpMethod.Delete, $"v1/images/{Segment(pool)}/{Segment(image)}", null, CancellationToken.None);

    /// <summary>Makes a volume a disk of the VM: hot-plugged when it runs, else on its next start.</summary>
    public Task<VmInfo> AttachVolumeAsync(string vm, string pool, string volume) =>
        PostAsync<VmInfo>($"v1/vms/{Segment(vm)}/disks", new DiskBody(pool, volume), CancellationToken.None);

    /// <summary>Unplugs a disk from the VM (the guest must let it go); the volume stays in its pool.</summary>
    public Task<VmInfo> DetachVolumeAsync(string vm, string pool, string volume) =>
        SendAsync<VmInfo>(HttpMethod.Delete, $"v1/vms/{Segment(vm)}/disks/{Segment(pool)}/{Segment(volume)}", null, _connection.RequestTimeout, CancellationToken.None);

    internal sealed record ResizeBody(long SizeBytes);

    internal sealed record ImageBody(string Name, string File);

    internal sealed record DiskBody(string Pool, string Volume);
}
