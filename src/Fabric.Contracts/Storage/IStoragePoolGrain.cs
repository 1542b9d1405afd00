using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One storage pool, keyed by its name: the single writer of its volumes' and images' records and of its accounting
/// (virtual allocation against capacity × overcommit, per-VM quota). A create is counted before its file is made and
/// uncounted if making it fails, and requests run one at a time, so concurrent creates can never overshoot the limit.
/// Files are made by host grains (<see cref="IHostStorage"/>): the volume's host in a local pool, any host that is up
/// in a shared one. Calls flow from clients and VMs into pools and from pools into hosts, never back.
/// </summary>
[Alias("fabric.IStoragePoolGrain")]
public interface IStoragePoolGrain : IGrainWithStringKey
{
    /// <summary>Creates the pool (its directory on the hosts too); <c>conflict</c> when it exists.</summary>
    [Alias("Create")]
    Task<PoolInfo> Create(PoolSpec spec);

    /// <summary>The pool with its physical use measured from its files now (as last measured where a host is down).</summary>
    [AlwaysInterleave, Alias("Get")]
    Task<PoolInfo> Get();

    /// <summary>Where the pool's files are (<c>not-found</c> when the pool does not exist).</summary>
    [AlwaysInterleave, Alias("Locate"), HostInternal]
    Task<PoolLocation> Locate();

    /// <summary>Deletes the pool; <c>conflict</c> while it holds volumes or images.</summary>
    [Alias("Delete")]
    Task Delete();

    /// <summary>
    /// Creates a volume (empty, linked clone or full copy of an image of this pool); <c>insufficient-capacity</c> past the
    /// pool's limit or the VM's quota, leaving nothing behind. <paramref name="forVm"/>: made for that VM's create,
    /// attached to it and deleted with it.
    /// </summary>
    [Alias("CreateVolume"), ResponseTimeout("00:10:00")]
    Task<VolumeAttachment> CreateVolume(VolumeSpec spec, string? forVm);

    [AlwaysInterleave, Alias("GetVolume")]
    Task<VolumeInfo> GetVolume(string volume);

    /// <summary>The pool's volumes by name, with their files measured.</summary>
    [AlwaysInterleave, Alias("ListVolumes")]
    Task<ImmutableArray<VolumeInfo>> ListVolumes();

    /// <summary>Grows a volume that no VM holds; an attached one grows through its VM (<see cref="IVmVolumes.ResizeVolume"/>).</summary>
    [Alias("ResizeVolume")]
    Task<VolumeInfo> ResizeVolume(string volume, long sizeBytes);

    /// <summary>Deletes a volume; <c>conflict</c> while attached.</summary>
    [Alias("DeleteVolume")]
    Task DeleteVolume(string volume);

    /// <summary>
    /// Imports a file the hosts can read as an image: probed once, its format pinned (raw or qcow2 only, no backing
    /// file), copied into the pool (onto every host that is up, for a local pool).
    /// </summary>
    [Alias("ImportImage"), ResponseTimeout("00:10:00")]
    Task<ImageInfo> ImportImage(string image, string file);

    [AlwaysInterleave, Alias("ListImages")]
    Task<ImmutableArray<ImageInfo>> ListImages();

    /// <summary>Deletes an image; <c>conflict</c> while linked clones depend on it.</summary>
    [Alias("DeleteImage")]
    Task DeleteImage(string image);

    /// <summary>Attaches the volume to <paramref name="vm"/>: <c>conflict</c> when another VM holds it; idempotent.</summary>
    [Alias("Claim"), HostInternal]
    Task<VolumeAttachment> Claim(string volume, string vm);

    /// <summary>
    /// Detaches the volume from <paramref name="vm"/> (nothing when that VM does not hold it); with
    /// <paramref name="delete"/> a volume made for the VM is deleted too.
    /// </summary>
    [Alias("Release"), HostInternal]
    Task Release(string volume, string vm, bool delete);

    /// <summary>
    /// A live migration of <paramref name="vm"/> to <paramref name="host"/> copies this local volume there: an empty
    /// file of its size is made on that host and counted until the copy is committed or given up. Idempotent for the
    /// same migration.
    /// </summary>
    [Alias("PrepareCopy"), HostInternal]
    Task PrepareCopy(string volume, string vm, string host, string migration);

    /// <summary>The migration committed: the volume lives on its copy's host now; the old file is deleted. Idempotent.</summary>
    [Alias("CommitCopy"), HostInternal]
    Task CommitCopy(string volume, string vm, string host, string migration);

    /// <summary>The migration was undone: the copy's file is deleted and no longer counted. Idempotent.</summary>
    [Alias("AbortCopy"), HostInternal]
    Task AbortCopy(string volume, string vm, string migration);

    /// <summary>Counts an attached volume's growth (the VM grows the live disk next); returns the volume at its new size.</summary>
    [Alias("GrowAttached"), HostInternal]
    Task<VolumeAttachment> GrowAttached(string volume, string vm, long sizeBytes);
}

/// <summary>A pool's location, as hosts need it to find its files.</summary>
/// <param name="Pool">The pool's name.</param>
/// <param name="Type">Local pools keep a directory per host (<c>PATH/&lt;host&gt;</c>); shared ones one directory.</param>
/// <param name="Path">The pool's directory.</param>
[GenerateSerializer, Immutable, Alias("fabric.PoolLocation")]
public sealed record PoolLocation(
    [property: Id(0)] string Pool,
    [property: Id(1)] PoolType Type,
    [property: Id(2)] string Path)
{
    /// <summary>The pool's root directory on <paramref name="host"/>.</summary>
    public string RootOn(string host) => Type == PoolType.Local ? $"{Path}/{host}" : Path;
}

/// <summary>A volume with where its pool is, as a VM needs it to make it one of its disks.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeAttachment")]
public sealed record VolumeAttachment(
    [property: Id(0)] VolumeInfo Volume,
    [property: Id(1)] PoolLocation Location);

/// <summary>The pools' directory (one activation, key <see cref="Key"/>): which pools exist, for listings.</summary>
[Alias("fabric.IPoolDirectoryGrain")]
public interface IPoolDirectoryGrain : IGrainWithStringKey
{
    public const string Key = "fabric";

    /// <summary>The most pools a fabric holds.</summary>
    public const int MaxPools = 256;

    [Alias("Add"), HostInternal]
    Task Add(string pool);

    [Alias("Remove"), HostInternal]
    Task Remove(string pool);

    [AlwaysInterleave, Alias("List")]
    Task<ImmutableArray<string>> List();
}
