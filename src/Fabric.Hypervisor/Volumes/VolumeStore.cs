using Fabric.Hypervisor.Confinement;
using Fabric.Hypervisor.Linux;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Hypervisor.Volumes;

/// <summary>
/// <see cref="IVolumeStore"/> on this machine's file systems, with <see cref="QemuImg"/>. Paths come from
/// <see cref="PoolPaths"/> (safe names, no symlink anywhere from the root down); new files are made by
/// <see cref="PendingFile"/> (a temporary name, renamed into place only when complete, deleted otherwise). A full copy
/// or an import first checks the file system's free space against the source's allocated bytes; a write that still
/// meets <c>ENOSPC</c> fails with <c>NoSpace</c> naming the pool's root, and leaves nothing behind.
/// </summary>
/// <remarks>
/// Physical sizes are measured from the files (<c>st_blocks</c> × 512, read with <c>statx</c> without following a
/// symlink), not taken from qemu-img's <c>actual-size</c>: for a file on a local file system qemu-img computes exactly
/// that figure, but measuring it here makes one measurement for <see cref="InspectVolumeAsync"/>,
/// <see cref="ImportImageAsync"/> and <see cref="MeasurePoolAsync"/>, independent of qemu-img's protocol driver.
/// </remarks>
public sealed partial class VolumeStore : IVolumeStore
{
    /// <summary>The largest virtual size of a volume or an imported image: 64 TiB.</summary>
    public const long MaxSizeBytes = 64L << 40;

    private const int MaxBackingChain = 16;
    private const int MaxListedLeftovers = 10;

    private static readonly string[] Folders = [PoolPaths.VolumesFolder, PoolPaths.ImagesFolder];

    /// <summary>Folder modes: root's, group fabric-qemu may pass (0710); image files readable by that group (0640).</summary>
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute;
    private const UnixFileMode ImageMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    private readonly QemuImg _qemuImg;
    private readonly ILogger _logger;

    /// <summary>The <c>volumes/</c> folders of the pools this store prepared or resolved a volume in: where VM disks may lie.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _volumeFolders = new(StringComparer.Ordinal);

    public VolumeStore()
        : this(new QemuImg(), NullLogger<VolumeStore>.Instance)
    {
    }

    public VolumeStore(QemuImg qemuImg, ILogger<VolumeStore> logger)
    {
        ArgumentNullException.ThrowIfNull(qemuImg);
        ArgumentNullException.ThrowIfNull(logger);
        _qemuImg = qemuImg;
        _logger = logger;
    }

    public Task<PoolUsage> PreparePoolAsync(string root, CancellationToken cancellationToken) => Run(root, paths =>
    {
        if (paths.CheckRoot() is null)
        {
            FileSystem.CreateOwnDirectory(paths.Root);
        }

        foreach (var folder in Folders)
        {
            if (FileSystem.Lstat(paths.CheckFolder(folder)) is null)
            {
                FileSystem.CreateOwnDirectory(Path.Combine(paths.Root, folder));
            }

            paths.CheckFolder(folder); // a directory of its own, not a symlink slipped in meanwhile
        }

        // QEMU (a VM's uid, group fabric-qemu) passes through the root and folders to the disks given to it and reads
        // the images its linked clones are backed by; nobody else may (docs/confinement.md, Pools).
        var gid = QemuGroup.Resolve();
        foreach (var directory in new[] { paths.Root, paths.Volumes, paths.Images })
        {
            Ownership.Set(directory, 0, gid, FolderMode);
        }

        foreach (var image in Directory.EnumerateFiles(paths.Images))
        {
            if (!PendingFile.IsTemporary(Path.GetFileName(image)) && FileSystem.Lstat(image) is { Kind: FileKind.Regular })
            {
                Ownership.Set(image, 0, gid, ImageMode);
            }
        }

        _volumeFolders[paths.Volumes] = true;
        return Measure(paths);
    });

    /// <summary>
    /// Whether <paramref name="folder"/> is the <c>volumes/</c> folder of a pool this store knows: one it prepared, or
    /// resolved a volume in while that folder existed (a pool prepared before a restart). The driver takes disks only from there.
    /// </summary>
    public bool IsVolumeFolder(string folder) => _volumeFolders.ContainsKey(folder);

    public Task<PoolUsage> MeasurePoolAsync(string root, CancellationToken cancellationToken) => Run(root, paths =>
        paths.CheckRoot() is null
            ? throw new HypervisorException(HypervisorErrorKind.NotFound, $"pool root '{paths.Root}' does not exist")
            : Measure(paths));

    public Task RemovePoolAsync(string root, CancellationToken cancellationToken) => Run(root, paths =>
    {
        if (paths.CheckRoot() is null)
        {
            return false;
        }

        var folders = Folders.Where(folder => FileSystem.Lstat(paths.CheckFolder(folder)) is not null).ToList();
        var leftovers = folders
            .SelectMany(folder => Directory.EnumerateFileSystemEntries(Path.Combine(paths.Root, folder)).Select(entry => $"{folder}/{Path.GetFileName(entry)}"))
            .Concat(Directory.EnumerateFileSystemEntries(paths.Root).Select(entry => Path.GetFileName(entry)).Where(name => !folders.Contains(name)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (leftovers.Count > 0)
        {
            var listed = string.Join(", ", leftovers.Take(MaxListedLeftovers))
                + (leftovers.Count > MaxListedLeftovers ? $" and {leftovers.Count - MaxListedLeftovers} more" : "");
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"pool '{paths.Root}' still holds {listed}");
        }

        foreach (var folder in folders)
        {
            Directory.Delete(Path.Combine(paths.Root, folder), recursive: false);
        }

        Directory.Delete(paths.Root, recursive: false);
        _volumeFolders.TryRemove(paths.Volumes, out _);
        LogPoolRemoved(_logger, paths.Root);
        return true;
    });

    public Task<VolumeFile> CreateVolumeAsync(string root, VolumeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RunAsync(root, async paths =>
        {
            EnsureSize(request.SizeBytes, $"volume '{request.Name}'");
            var target = paths.Volume(request.Name);
            paths.ExistingFolder(PoolPaths.VolumesFolder);
            if (FileSystem.Lstat(target) is not null)
            {
                throw new HypervisorException(HypervisorErrorKind.Conflict, $"volume '{request.Name}' already exists: {target}");
            }

            var size = request.SizeBytes;
            string? backing = null;
            string? backingFormat = null;
            using var pending = PendingFile.Create(target);
            switch (request.Source)
            {
                case null:
                    await _qemuImg.CreateAsync(pending.Path, size, null, null, cancellationToken).ConfigureAwait(false);
                    break;

                case { Full: false } source:
                {
                    var (image, info) = await ReadImageChainAsync(paths, source, cancellationToken).ConfigureAwait(false);
                    size = Math.Max(size, RoundUpToSector(info.VirtualSize));
                    (backing, backingFormat) = (image, source.Format);
                    await _qemuImg.CreateAsync(pending.Path, size, image, source.Format, cancellationToken).ConfigureAwait(false);
                    break;
                }

                case { Full: true } source:
                {
                    var (image, info) = await ReadImageChainAsync(paths, source, cancellationToken).ConfigureAwait(false);
                    EnsureRoom(paths, FileSystem.Lstat(image)?.AllocatedBytes ?? 0, $"a full copy of image '{source.Image}'");
                    await _qemuImg.ConvertAsync(image, source.Format, pending.Path, PoolPaths.VolumeFormat, cancellationToken).ConfigureAwait(false);
                    if (size > info.VirtualSize)
                    {
                        await _qemuImg.ResizeAsync(pending.Path, size, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        size = info.VirtualSize;
                    }

                    break;
                }
            }

            var made = await _qemuImg.InfoAsync(pending.Path, PoolPaths.VolumeFormat, cancellationToken).ConfigureAwait(false);
            if (made.VirtualSize != size || made.Backing != backing || made.BackingFormat != backingFormat || made.DataFile is not null)
            {
                throw new HypervisorException(
                    HypervisorErrorKind.Failed,
                    $"qemu-img made volume '{request.Name}' with size {made.VirtualSize}, backing '{made.Backing}' ({made.BackingFormat}); " +
                    $"expected size {size}, backing '{backing}' ({backingFormat})");
            }

            Commit(pending, $"volume '{request.Name}'");
            LogVolumeCreated(_logger, request.Name, paths.Root, size, request.Source switch { null => "empty", { Full: true } => "full copy", _ => "linked clone" });
            return ToVolumeFile(request.Name, target, made);
        });
    }

    public Task<VolumeFile> ResizeVolumeAsync(string root, string volume, long sizeBytes, CancellationToken cancellationToken) => RunAsync(root, async paths =>
    {
        EnsureSize(sizeBytes, $"volume '{volume}'");
        var path = paths.Volume(volume);
        var current = await InspectAsync(volume, path, cancellationToken).ConfigureAwait(false)
            ?? throw new HypervisorException(HypervisorErrorKind.NotFound, $"volume '{volume}' does not exist in pool '{paths.Root}'");
        if (sizeBytes < current.VirtualBytes)
        {
            throw new HypervisorException(
                HypervisorErrorKind.InvalidRequest,
                $"volume '{volume}' is {current.VirtualBytes} bytes: shrinking it to {sizeBytes} bytes is refused (volumes only grow)");
        }

        if (sizeBytes == current.VirtualBytes)
        {
            return current;
        }

        await _qemuImg.ResizeAsync(path, sizeBytes, cancellationToken).ConfigureAwait(false);
        return await InspectAsync(volume, path, cancellationToken).ConfigureAwait(false)
            ?? throw new HypervisorException(HypervisorErrorKind.NotFound, $"volume '{volume}' vanished while it was resized");
    });

    public Task<VolumeFile?> InspectVolumeAsync(string root, string volume, CancellationToken cancellationToken) =>
        RunAsync(root, paths => InspectAsync(volume, paths.Volume(volume), cancellationToken));

    public Task<IReadOnlyDictionary<string, long>> MeasureVolumesAsync(string root, CancellationToken cancellationToken) => Run(root, paths =>
    {
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        if (FileSystem.Lstat(paths.Volumes) is not { Kind: FileKind.Directory })
        {
            return (IReadOnlyDictionary<string, long>)sizes;
        }

        foreach (var entry in Directory.EnumerateFiles(paths.Volumes, "*.qcow2"))
        {
            var volume = Path.GetFileNameWithoutExtension(entry);
            if (SafeNames.IsSafe(volume) && FileSystem.Lstat(entry) is { Kind: FileKind.Regular } file)
            {
                sizes[volume] = file.AllocatedBytes;
            }
        }

        return sizes;
    });

    public Task DeleteVolumeAsync(string root, string volume, CancellationToken cancellationToken) =>
        Run(root, paths => Delete(paths.Volume(volume)));

    public Task DeleteImageAsync(string root, string image, string format, CancellationToken cancellationToken) =>
        Run(root, paths => Delete(paths.Image(image, format)));

    public string VolumePath(string root, string volume)
    {
        try
        {
            var paths = PoolPaths.For(root);
            var path = paths.Volume(volume);
            if (FileSystem.Lstat(paths.Volumes) is { Kind: FileKind.Directory })
            {
                _volumeFolders[paths.Volumes] = true;
            }

            return path;
        }
        catch (Exception ex) when (Translate(root, ex) is { } translated)
        {
            throw translated;
        }
    }

    private async Task<VolumeFile?> InspectAsync(string volume, string path, CancellationToken cancellationToken)
    {
        if (FileSystem.Lstat(path) is null)
        {
            return null;
        }

        var info = await _qemuImg.InfoAsync(path, PoolPaths.VolumeFormat, cancellationToken).ConfigureAwait(false);
        return ToVolumeFile(volume, path, info);
    }

    /// <summary>
    /// The image a volume starts from, and its information: the file must be a regular file in this pool's
    /// <c>images/</c>, and every backing file its chain records must be one too, each with its format recorded (else
    /// QEMU would probe it). The chain is walked one <c>qemu-img info</c> at a time, each image checked before it is
    /// opened, so nothing outside the pool is ever read.
    /// </summary>
    private async Task<(string Path, QemuImgInfo Info)> ReadImageChainAsync(PoolPaths paths, VolumeSource source, CancellationToken cancellationToken)
    {
        var image = paths.Image(source.Image, source.Format);
        if (FileSystem.Lstat(image) is null)
        {
            throw new HypervisorException(HypervisorErrorKind.NotFound, $"image '{source.Image}' ({source.Format}) does not exist in pool '{paths.Root}'");
        }

        var first = await _qemuImg.InfoAsync(image, source.Format, cancellationToken).ConfigureAwait(false);
        var (current, info) = (image, first);
        for (var depth = 0; info.Backing is { } backing; depth++)
        {
            var format = info.BackingFormat;
            var name = Path.GetFileNameWithoutExtension(backing);
            if (depth >= MaxBackingChain || !Path.IsPathFullyQualified(backing) || Path.GetDirectoryName(backing) != paths.Images
                || format is not ("raw" or "qcow2") || Path.GetFileName(backing) != $"{name}.{format}" || !SafeNames.IsSafe(name))
            {
                throw new HypervisorException(
                    HypervisorErrorKind.InvalidRequest,
                    $"image '{current}' has backing file '{backing}' ({format ?? "format not recorded"}), which leaves the pool's images/ or names no format");
            }

            current = paths.Image(name, format);
            if (FileSystem.Lstat(current) is null)
            {
                throw new HypervisorException(HypervisorErrorKind.NotFound, $"image '{image}' has backing file '{current}', which does not exist");
            }

            info = await _qemuImg.InfoAsync(current, format, cancellationToken).ConfigureAwait(false);
        }

        return (image, first);
    }

    /// <summary>Refuses with <c>NoSpace</c>, before anything is written, what the file system has no room for.</summary>
    private static void EnsureRoom(PoolPaths paths, long neededBytes, string what)
    {
        var (_, free) = FileSystem.Space(paths.Root);
        if (neededBytes > free)
        {
            throw new HypervisorException(
                HypervisorErrorKind.NoSpace,
                $"{PoolPrefix(paths.Root)} is out of space: {what} needs {neededBytes} bytes, its file system has {free} free");
        }
    }

    private static void EnsureSize(long sizeBytes, string what)
    {
        if (sizeBytes <= 0 || sizeBytes % 512 != 0 || sizeBytes > MaxSizeBytes)
        {
            throw new HypervisorException(
                HypervisorErrorKind.InvalidRequest,
                $"{what}: size {sizeBytes} must be positive, a multiple of 512 and at most {MaxSizeBytes} bytes (64 TiB)");
        }
    }

    private static long RoundUpToSector(long bytes) => (bytes + 511) / 512 * 512;

    private static void Commit(PendingFile pending, string what)
    {
        try
        {
            pending.Commit();
        }
        catch (SystemCallException ex) when (ex.Errno == Native.EEXIST)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"{what} was created meanwhile: {pending.FinalPath}", ex);
        }
    }

    private static bool Delete(string path)
    {
        if (FileSystem.Lstat(path) is null)
        {
            return false;
        }

        File.Delete(path); // unlink(2); the path was checked: no symlink on the way, a regular file
        return true;
    }

    private static VolumeFile ToVolumeFile(string name, string path, QemuImgInfo info) =>
        new(name, path, PoolPaths.VolumeFormat, info.VirtualSize, FileSystem.Lstat(path)?.AllocatedBytes ?? 0, info.Backing, info.BackingFormat);

    private static PoolUsage Measure(PoolPaths paths)
    {
        long used = 0;
        foreach (var folder in Folders)
        {
            used += AllocatedBelow(paths.CheckFolder(folder));
        }

        var (total, free) = FileSystem.Space(paths.Root);
        return new PoolUsage(used, total, free);
    }

    /// <summary>
    /// The allocated bytes of every regular file in <paramref name="directory"/> and its real sub-folders (a symlink is
    /// neither followed nor counted). Temporary files of creates under way count: they occupy the disk too.
    /// </summary>
    private static long AllocatedBelow(string directory)
    {
        if (FileSystem.Lstat(directory) is not { Kind: FileKind.Directory })
        {
            return 0;
        }

        long used = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
        {
            used += FileSystem.Lstat(entry) switch
            {
                { Kind: FileKind.Regular } file => file.AllocatedBytes,
                { Kind: FileKind.Directory } => AllocatedBelow(entry),
                _ => 0,
            };
        }

        return used;
    }

    /// <summary>Runs a synchronous operation on the pool at <paramref name="root"/>, its errors (translated) in the task.</summary>
    private static Task<T> Run<T>(string root, Func<PoolPaths, T> action)
    {
        try
        {
            return Task.FromResult(action(PoolPaths.For(root)));
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(Translate(root, ex) ?? ex);
        }
    }

    private static async Task<T> RunAsync<T>(string root, Func<PoolPaths, Task<T>> action)
    {
        try
        {
            return await action(PoolPaths.For(root)).ConfigureAwait(false);
        }
        catch (Exception ex) when (Translate(root, ex) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>
    /// What the file system or qemu-img said, as the store's errors: <c>ENOSPC</c> and <c>EDQUOT</c> (from a system
    /// call or from qemu-img) become <c>NoSpace</c> naming the pool's root, a symlink met while opening (<c>ELOOP</c>)
    /// <c>InvalidRequest</c>, other I/O errors <c>Failed</c>. Null for what passes unchanged.
    /// </summary>
    private static HypervisorException? Translate(string root, Exception exception) => exception switch
    {
        HypervisorException { Kind: HypervisorErrorKind.NoSpace } ex when !ex.Message.StartsWith(PoolPrefix(root), StringComparison.Ordinal) =>
            new HypervisorException(HypervisorErrorKind.NoSpace, $"{PoolPrefix(root)} is out of space: {ex.Message}", ex),
        SystemCallException { IsNoSpace: true } ex =>
            new HypervisorException(HypervisorErrorKind.NoSpace, $"{PoolPrefix(root)} is out of space: {ex.Message}", ex),
        SystemCallException { Errno: Native.ELOOP } ex =>
            new HypervisorException(HypervisorErrorKind.InvalidRequest, $"'{ex.Path}' is a symlink; a pool's files are never reached through one", ex),
        IOException or UnauthorizedAccessException =>
            new HypervisorException(HypervisorErrorKind.Failed, $"{PoolPrefix(root)}: {exception.Message}", exception),
        _ => null,
    };

    /// <summary>How every message about the pool starts: <c>pool '&lt;root&gt;'</c>.</summary>
    private static string PoolPrefix(string root) => $"pool '{(root.Length > 1 ? root.TrimEnd('/') : root)}'";

    [LoggerMessage(Level = LogLevel.Information, Message = "Volume {Volume} created in pool {Root}: {VirtualBytes} bytes, {Kind}")]
    private static partial void LogVolumeCreated(ILogger logger, string volume, string root, long virtualBytes, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Image {Image} imported into pool {Root} as {Format} from {Source}")]
    private static partial void LogImageImported(ILogger logger, string image, string root, string format, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Root} removed")]
    private static partial void LogPoolRemoved(ILogger logger, string root);
}
