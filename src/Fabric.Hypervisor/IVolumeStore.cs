namespace Fabric.Hypervisor;

/// <summary>
/// The files of storage pools on this machine: thin qcow2 volumes and the images they are cloned from, made and read
/// with <c>qemu-img</c> (the format always given, never probed, except once when an image is imported). A pool is a
/// root directory the caller names (absolute); inside it volumes live in <c>volumes/&lt;name&gt;.qcow2</c> and images in
/// <c>images/&lt;name&gt;.&lt;format&gt;</c>. Every path is resolved under the root without following a symlink, and
/// names must be safe names (like VM names), so no request can reach outside its pool. A failed create leaves no file.
/// Throws <see cref="HypervisorException"/>: <c>InvalidRequest</c> for an unsafe name, a symlink, a format other than
/// raw or qcow2, or a backing file outside the pool; <c>NotFound</c>, <c>Conflict</c> (a file of that name exists);
/// <c>NoSpace</c> when the pool's file system is full; <c>Failed</c> when qemu-img fails.
/// </summary>
public interface IVolumeStore
{
    /// <summary>Creates the pool's directories when missing (the root's parent must exist) and measures it.</summary>
    Task<PoolUsage> PreparePoolAsync(string root, CancellationToken cancellationToken);

    /// <summary>The bytes the pool's files really occupy (allocated blocks), and its file system's size and free space.</summary>
    Task<PoolUsage> MeasurePoolAsync(string root, CancellationToken cancellationToken);

    /// <summary>Removes the pool's empty directories; <c>Conflict</c> while any volume or image file remains.</summary>
    Task RemovePoolAsync(string root, CancellationToken cancellationToken);

    /// <summary>
    /// Creates a thin qcow2 volume: empty, a linked clone of an image of the same pool (qcow2 backing file, <c>-F</c>
    /// given), or a full copy of it. The virtual size is at least the image's.
    /// </summary>
    Task<VolumeFile> CreateVolumeAsync(string root, VolumeRequest request, CancellationToken cancellationToken);

    /// <summary>Grows a volume whose file no process has open (a running VM's disk grows through <see cref="IVmDisks"/>).</summary>
    Task<VolumeFile> ResizeVolumeAsync(string root, string volume, long sizeBytes, CancellationToken cancellationToken);

    /// <summary>The volume's file as <c>qemu-img info</c> reads it (format given), or null when there is none.</summary>
    Task<VolumeFile?> InspectVolumeAsync(string root, string volume, CancellationToken cancellationToken);

    /// <summary>What every volume file of the pool occupies on disk (allocated blocks), by volume name.</summary>
    Task<IReadOnlyDictionary<string, long>> MeasureVolumesAsync(string root, CancellationToken cancellationToken);

    /// <summary>Deletes the volume's file (nothing when it does not exist).</summary>
    Task DeleteVolumeAsync(string root, string volume, CancellationToken cancellationToken);

    /// <summary>
    /// Imports <paramref name="sourceFile"/> as an image: probes it once with <c>qemu-img info</c>, refuses a symlink, a
    /// format other than raw or qcow2, and any backing file, then copies it into the pool (format pinned from then on).
    /// </summary>
    Task<ImageFile> ImportImageAsync(string root, string image, string sourceFile, CancellationToken cancellationToken);

    /// <summary>Deletes the image's file (nothing when it does not exist).</summary>
    Task DeleteImageAsync(string root, string image, string format, CancellationToken cancellationToken);

    /// <summary>Where a volume's file is (for a <see cref="DiskSpec"/>); checks the name and that no symlink is on the way.</summary>
    string VolumePath(string root, string volume);
}

/// <summary>A volume to create.</summary>
/// <param name="Name">A safe name.</param>
/// <param name="SizeBytes">The virtual size (a multiple of 512).</param>
/// <param name="Source">The image to start from, or null for an empty volume.</param>
public sealed record VolumeRequest(string Name, long SizeBytes, VolumeSource? Source = null);

/// <summary>An image of the same pool a volume starts from.</summary>
/// <param name="Image">The image's name.</param>
/// <param name="Format">The image's pinned format (<c>raw</c> or <c>qcow2</c>).</param>
/// <param name="Full">A full copy instead of a linked clone.</param>
public sealed record VolumeSource(string Image, string Format, bool Full);

/// <summary>A volume's file as qemu-img reads it.</summary>
/// <param name="Name">The volume's name.</param>
/// <param name="Path">Its file.</param>
/// <param name="Format">Always <c>qcow2</c> for a volume.</param>
/// <param name="VirtualBytes">The disk's size as the guest sees it.</param>
/// <param name="PhysicalBytes">The bytes the file occupies on disk (allocated blocks).</param>
/// <param name="BackingFile">The image it is a linked clone of (absolute path), or null.</param>
/// <param name="BackingFormat">That image's format, as recorded in the volume.</param>
public sealed record VolumeFile(string Name, string Path, string Format, long VirtualBytes, long PhysicalBytes, string? BackingFile, string? BackingFormat);

/// <summary>An imported image's file.</summary>
public sealed record ImageFile(string Name, string Path, string Format, long VirtualBytes, long PhysicalBytes);

/// <summary>What a pool's files occupy, and room on its file system.</summary>
/// <param name="UsedBytes">Allocated blocks of every volume and image file of the pool.</param>
/// <param name="FilesystemBytes">The size of the file system holding the pool.</param>
/// <param name="FilesystemFreeBytes">Free bytes there (for an unprivileged writer).</param>
public sealed record PoolUsage(long UsedBytes, long FilesystemBytes, long FilesystemFreeBytes);
