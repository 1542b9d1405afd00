using System.Globalization;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Volumes;

/// <summary>Importing an image: the one place where a file's format is probed rather than given.</summary>
public sealed partial class VolumeStore
{
    private static readonly string[] ImageFormats = ["raw", "qcow2"];

    /// <summary>
    /// Imports <paramref name="sourceFile"/> as <c>images/&lt;image&gt;.&lt;format&gt;</c>. The source is opened once,
    /// without following a symlink, and must be a readable regular file; qemu-img then reads that very open file (through
    /// <c>/proc/&lt;pid&gt;/fd/&lt;n&gt;</c>), so the file probed is the file copied, whatever happens to its name
    /// meanwhile. The probe (no <c>-f</c>, <c>-U</c>, under <c>prlimit</c>) must find raw or qcow2; a qcow2 must be
    /// self-contained (no backing file, no external data file) and not encrypted. The copy is made by
    /// <c>qemu-img convert</c> in the probed format: for raw it keeps the file sparse (<c>-S 4k</c>); for qcow2 it
    /// rewrites the image from its contents, so internal snapshots, unknown header extensions and other oddities of a
    /// file from outside are not carried into the pool. The copy is read again with the format given before it is
    /// renamed into place.
    /// </summary>
    public Task<ImageFile> ImportImageAsync(string root, string image, string sourceFile, CancellationToken cancellationToken) => RunAsync(root, async paths =>
    {
        SafeNames.Ensure(image, "image");
        paths.ExistingFolder(PoolPaths.ImagesFolder);
        foreach (var format in ImageFormats)
        {
            if (FileSystem.Lstat(paths.Image(image, format)) is not null)
            {
                throw new HypervisorException(HypervisorErrorKind.Conflict, $"image '{image}' already exists: {paths.Image(image, format)}");
            }
        }

        using var source = OpenSource(sourceFile);
        var facts = FileSystem.Fstat(source, sourceFile);
        if (facts.Kind != FileKind.Regular)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"source '{sourceFile}' is not a regular file");
        }

        // The open file itself, for qemu-img (a child, which may open our descriptors by their /proc link).
        var opened = $"/proc/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/fd/{source.DangerousGetHandle().ToString()}";
        var probe = await _qemuImg.ProbeAsync(opened, cancellationToken).ConfigureAwait(false);
        EnsureSelfContained(probe, $"source '{sourceFile}'");
        if (probe.VirtualSize > MaxSizeBytes)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"source '{sourceFile}' is {probe.VirtualSize} bytes, more than {MaxSizeBytes} (64 TiB)");
        }

        EnsureRoom(paths, facts.AllocatedBytes, $"importing '{sourceFile}'");
        var target = paths.Image(image, probe.Format);
        using var pending = PendingFile.Create(target);
        await _qemuImg.ConvertAsync(opened, probe.Format, pending.Path, probe.Format, cancellationToken).ConfigureAwait(false);

        var copy = await _qemuImg.InfoAsync(pending.Path, probe.Format, cancellationToken).ConfigureAwait(false);
        EnsureSelfContained(copy, $"the copy of '{sourceFile}'");
        if (copy.VirtualSize != probe.VirtualSize)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"the copy of '{sourceFile}' is {copy.VirtualSize} bytes, the source {probe.VirtualSize}");
        }

        Commit(pending, $"image '{image}'");
        Confinement.Ownership.Set(target, 0, Confinement.QemuGroup.Resolve(), ImageMode); // every VM's QEMU may read a base image
        LogImageImported(_logger, image, paths.Root, probe.Format, sourceFile);
        return new ImageFile(image, target, probe.Format, copy.VirtualSize, FileSystem.Lstat(target)?.AllocatedBytes ?? 0);
    });

    private static Microsoft.Win32.SafeHandles.SafeFileHandle OpenSource(string sourceFile)
    {
        if (string.IsNullOrEmpty(sourceFile) || sourceFile.Contains('\0', StringComparison.Ordinal) || !Path.IsPathFullyQualified(sourceFile))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"source '{sourceFile}' is not an absolute path");
        }

        switch (FileSystem.Lstat(sourceFile))
        {
            case null:
                throw new HypervisorException(HypervisorErrorKind.NotFound, $"source '{sourceFile}' does not exist");
            case { Kind: FileKind.Symlink }:
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"source '{sourceFile}' is a symlink; name the file itself");
            case { Kind: not FileKind.Regular }:
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"source '{sourceFile}' is not a regular file");
        }

        try
        {
            return FileSystem.OpenNoFollow(sourceFile);
        }
        catch (SystemCallException ex) when (ex.Errno is Native.EACCES or Native.ELOOP or Native.ENOENT)
        {
            throw new HypervisorException(
                ex.Errno == Native.ENOENT ? HypervisorErrorKind.NotFound : HypervisorErrorKind.InvalidRequest,
                $"source '{sourceFile}' cannot be read: {ex.Message}",
                ex);
        }
    }

    /// <summary>Raw, or a qcow2 that needs no other file and no secret.</summary>
    private static void EnsureSelfContained(QemuImgInfo info, string what)
    {
        if (info.Format is not ("raw" or "qcow2"))
        {
            throw Invalid($"{what} is in format '{info.Format}'; only raw and qcow2 images are imported");
        }

        if (info.Backing is { } backing)
        {
            throw Invalid($"{what} has backing file '{backing}', which leaves the pool: an image must be self-contained");
        }

        if (info.DataFile is { } dataFile)
        {
            throw Invalid($"{what} keeps its data in external file '{dataFile}', which leaves the pool: an image must be self-contained");
        }

        if (info.Encrypted)
        {
            throw Invalid($"{what} is encrypted; encrypted images are not imported");
        }

        static HypervisorException Invalid(string message) => new(HypervisorErrorKind.InvalidRequest, message);
    }
}
