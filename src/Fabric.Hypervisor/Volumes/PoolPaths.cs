using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Volumes;

/// <summary>
/// Where a pool's files are, checked. The root is an absolute, normalized path that is not a symlink (its ancestors
/// are the operator's and may be); inside it volumes are <c>volumes/&lt;name&gt;.qcow2</c> and images
/// <c>images/&lt;name&gt;.&lt;format&gt;</c> (<c>raw</c> or <c>qcow2</c>), names being <see cref="SafeNames">safe
/// names</see>. Every component from the root down is read without following it (lstat): a symlink anywhere (the root,
/// <c>volumes/</c>, <c>images/</c> or the file itself) is refused with <c>InvalidRequest</c> naming the path, and so is
/// a component of the wrong type (a file where a folder belongs, a folder or device where a file belongs).
/// </summary>
/// <remarks>
/// The checks see what is there when they run. The pool's folders are created by the driver with mode 0700, so only
/// the driver's own user could swap a component between a check and its use; the writes themselves never follow a
/// symlink in the last component (<see cref="PendingFile"/>).
/// </remarks>
public sealed class PoolPaths
{
    public const string VolumesFolder = "volumes";
    public const string ImagesFolder = "images";
    public const string VolumeFormat = "qcow2";

    private PoolPaths(string root)
    {
        Root = root;
        Volumes = Path.Combine(root, VolumesFolder);
        Images = Path.Combine(root, ImagesFolder);
    }

    /// <summary>The pool's root directory (absolute, normalized, without a trailing slash).</summary>
    public string Root { get; }

    /// <summary><c>&lt;root&gt;/volumes</c>.</summary>
    public string Volumes { get; }

    /// <summary><c>&lt;root&gt;/images</c>.</summary>
    public string Images { get; }

    /// <summary>
    /// Checks <paramref name="root"/>: absolute, no <c>.</c> or <c>..</c> component (a <c>..</c> after a symlinked
    /// ancestor would lead elsewhere than it reads), not <c>/</c> itself, and either an existing directory that is not a
    /// symlink or a name whose parent directory exists (so that <see cref="IVolumeStore.PreparePoolAsync"/> can create it).
    /// </summary>
    public static PoolPaths For(string root)
    {
        if (string.IsNullOrEmpty(root) || root.Contains('\0', StringComparison.Ordinal) || !Path.IsPathFullyQualified(root))
        {
            throw Invalid($"pool root '{root}' is not an absolute path");
        }

        var trimmed = root.Length > 1 ? root.TrimEnd('/') : root;
        if (trimmed.Length == 0 || trimmed == "/")
        {
            throw Invalid("pool root '/' is refused: a pool needs a directory of its own");
        }

        if (trimmed.Split('/').Skip(1).Any(part => part is "" or "." or ".."))
        {
            throw Invalid($"pool root '{root}' is not a normalized path (empty, '.' or '..' components)");
        }

        var paths = new PoolPaths(trimmed);
        if (paths.CheckRoot() is null)
        {
            var parent = Path.GetDirectoryName(trimmed)!;
            if (!Directory.Exists(parent))
            {
                throw Invalid($"pool root '{trimmed}' cannot be created: its parent '{parent}' is not a directory");
            }
        }

        return paths;
    }

    /// <summary>
    /// <c>volumes/&lt;name&gt;.qcow2</c>, after checking the name and that neither the root, <c>volumes/</c> nor the
    /// file (whichever exist) is a symlink, and that the file, when present, is a regular file.
    /// </summary>
    public string Volume(string name)
    {
        SafeNames.Ensure(name, "volume");
        return CheckFile(VolumesFolder, $"{name}.{VolumeFormat}");
    }

    /// <summary><c>images/&lt;name&gt;.&lt;format&gt;</c>, checked as <see cref="Volume"/> is; the format must be <c>raw</c> or <c>qcow2</c>.</summary>
    public string Image(string name, string format)
    {
        SafeNames.Ensure(name, "image");
        EnsureImageFormat(format);
        return CheckFile(ImagesFolder, $"{name}.{format}");
    }

    /// <summary>Throws <c>InvalidRequest</c> unless <paramref name="format"/> is <c>raw</c> or <c>qcow2</c>.</summary>
    public static void EnsureImageFormat(string? format)
    {
        if (format is not ("raw" or "qcow2"))
        {
            throw Invalid($"image format '{format}' is not raw or qcow2");
        }
    }

    /// <summary>
    /// The folder (<see cref="VolumesFolder"/> or <see cref="ImagesFolder"/>), checked like the files; <c>NotFound</c>
    /// when it does not exist (the pool was not prepared).
    /// </summary>
    public string ExistingFolder(string folder)
    {
        var path = CheckFolder(folder);
        if (FileSystem.Lstat(path) is null)
        {
            throw new HypervisorException(HypervisorErrorKind.NotFound, $"pool '{Root}' has no {folder}/ folder (it was not prepared)");
        }

        return path;
    }

    /// <summary>The root's facts now (null when it does not exist); a symlink or a non-directory there is refused.</summary>
    internal FileFacts? CheckRoot() => CheckDirectory(Root);

    /// <summary><c>&lt;root&gt;/&lt;folder&gt;</c>, the root and the folder checked (either may be missing).</summary>
    internal string CheckFolder(string folder)
    {
        CheckRoot();
        var path = Path.Combine(Root, folder);
        CheckDirectory(path);
        return path;
    }

    private string CheckFile(string folder, string fileName)
    {
        var path = Path.Combine(CheckFolder(folder), fileName);
        switch (FileSystem.Lstat(path))
        {
            case null or { Kind: FileKind.Regular }:
                return path;
            case { Kind: FileKind.Symlink }:
                throw Invalid($"'{path}' is a symlink; a pool's files are never reached through one");
            default:
                throw Invalid($"'{path}' is not a regular file");
        }
    }

    private static FileFacts? CheckDirectory(string path)
    {
        var facts = FileSystem.Lstat(path);
        return facts switch
        {
            null or { Kind: FileKind.Directory } => facts,
            { Kind: FileKind.Symlink } => throw Invalid($"'{path}' is a symlink; a pool's folders are never reached through one"),
            _ => throw Invalid($"'{path}' is not a directory"),
        };
    }

    private static HypervisorException Invalid(string message) => new(HypervisorErrorKind.InvalidRequest, message);
}
