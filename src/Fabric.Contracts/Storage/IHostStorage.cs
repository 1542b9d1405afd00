using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// The host's side of storage, served by the host's grain beside <see cref="IHostGrain"/>: the files of pools on this
/// host (made by its driver with qemu-img, every path resolved under the pool's root) and the disks of the VMs running
/// here. Pools call the file methods; VMs call the disk methods with their assignment (epoch-checked like every
/// command). Throws <c>insufficient-capacity</c> when the pool's file system is full (nothing half-made is left).
/// </summary>
[Alias("fabric.IHostStorage"), HostInternal]
public interface IHostStorage : IGrainWithStringKey
{
    [Alias("PreparePool")]
    Task<StorageUsage> PreparePool(PoolLocation pool);

    [AlwaysInterleave, Alias("MeasurePool")]
    Task<StorageUsage> MeasurePool(PoolLocation pool);

    [Alias("RemovePool")]
    Task RemovePool(PoolLocation pool);

    [Alias("CreateVolume"), ResponseTimeout("00:10:00")]
    Task<VolumeFileInfo> CreateVolume(PoolLocation pool, VolumeFileRequest request);

    /// <summary>What each volume file of the pool on this host occupies on disk, by volume name.</summary>
    [AlwaysInterleave, Alias("MeasureVolumes")]
    Task<System.Collections.Immutable.ImmutableDictionary<string, long>> MeasureVolumes(PoolLocation pool);

    [Alias("ResizeVolume")]
    Task<VolumeFileInfo> ResizeVolume(PoolLocation pool, string volume, long sizeBytes);

    /// <summary>The volume's file, or null when this host has none.</summary>
    [AlwaysInterleave, Alias("InspectVolume")]
    Task<VolumeFileInfo?> InspectVolume(PoolLocation pool, string volume);

    [Alias("DeleteVolume")]
    Task DeleteVolume(PoolLocation pool, string volume);

    [Alias("ImportImage"), ResponseTimeout("00:10:00")]
    Task<ImageFileInfo> ImportImage(PoolLocation pool, string image, string file);

    [Alias("DeleteImage")]
    Task DeleteImage(PoolLocation pool, string image, string format);

    /// <summary>Hot-plugs a disk into the assignment's running process, recording it in the VM's ledger entry first.</summary>
    [Alias("AttachDisk")]
    Task AttachDisk(VmAssignment assignment, DiskPlacement disk);

    /// <summary>Unplugs the disk in <paramref name="slot"/> (the guest must let it go), then drops it from the ledger entry.</summary>
    [Alias("DetachDisk")]
    Task DetachDisk(VmAssignment assignment, int slot);

    /// <summary>Grows the disk in <paramref name="slot"/>: live when the process runs, else its file.</summary>
    [Alias("ResizeDisk")]
    Task ResizeDisk(VmAssignment assignment, int slot, long sizeBytes);

    /// <summary>
    /// A migration's target: serves the incoming process's disks in <paramref name="slots"/> over NBD on the host's
    /// underlay address, for the source to mirror into; returns <c>ADDRESS:PORT</c>.
    /// </summary>
    [Alias("ExportDisks")]
    Task<string> ExportDisks(VmAssignment assignment, System.Collections.Immutable.ImmutableArray<int> slots);

    /// <summary>A migration's target: stops serving its disks (harmless when not serving).</summary>
    [Alias("EndExport")]
    Task EndExport(VmAssignment assignment);

    /// <summary>A migration's source: mirrors the disks in <paramref name="slots"/> to the target's export.</summary>
    [Alias("StartMirror")]
    Task StartMirror(VmAssignment assignment, string endpoint, System.Collections.Immutable.ImmutableArray<int> slots, long? bandwidthBytesPerSecond);

    /// <summary>A migration's source: how far each disk's mirror is (empty without a process or a mirror).</summary>
    [AlwaysInterleave, Alias("QueryMirror")]
    Task<System.Collections.Immutable.ImmutableArray<DiskMirrorState>> QueryMirror(string vm, long epoch);

    /// <summary>A migration's source: ends the mirror jobs (harmless when none runs).</summary>
    [Alias("EndMirror")]
    Task EndMirror(VmAssignment assignment);
}

/// <summary>One disk's mirror to a migration's target.</summary>
[GenerateSerializer, Immutable, Alias("fabric.DiskMirrorState")]
public sealed record DiskMirrorState(
    [property: Id(0)] int Slot,
    [property: Id(1)] bool Ready,
    [property: Id(2)] long CopiedBytes,
    [property: Id(3)] long TotalBytes,
    [property: Id(4)] string? Error);

/// <summary>A pool's files on one host, measured.</summary>
[GenerateSerializer, Immutable, Alias("fabric.StorageUsage")]
public sealed record StorageUsage(
    [property: Id(0)] long UsedBytes,
    [property: Id(1)] long FilesystemBytes,
    [property: Id(2)] long FilesystemFreeBytes);

/// <summary>A volume file to make.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeFileRequest")]
public sealed record VolumeFileRequest(
    [property: Id(0)] string Volume,
    [property: Id(1)] long SizeBytes,
    [property: Id(2)] string? Image,
    [property: Id(3)] string? ImageFormat,
    [property: Id(4)] bool Full);

/// <summary>A volume's file as the host's qemu-img reads it.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VolumeFileInfo")]
public sealed record VolumeFileInfo(
    [property: Id(0)] long VirtualBytes,
    [property: Id(1)] long PhysicalBytes,
    [property: Id(2)] string? BackingFile,
    [property: Id(3)] string? BackingFormat);

/// <summary>An imported image's file.</summary>
[GenerateSerializer, Immutable, Alias("fabric.ImageFileInfo")]
public sealed record ImageFileInfo(
    [property: Id(0)] string Format,
    [property: Id(1)] long VirtualBytes,
    [property: Id(2)] long PhysicalBytes);

/// <summary>One disk of a VM as its host needs it: the slot, the pool and the volume (always qcow2).</summary>
[GenerateSerializer, Immutable, Alias("fabric.DiskPlacement")]
public sealed record DiskPlacement(
    [property: Id(0)] int Slot,
    [property: Id(1)] PoolLocation Pool,
    [property: Id(2)] string Volume);
