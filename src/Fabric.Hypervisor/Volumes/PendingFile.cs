using System.Security.Cryptography;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Volumes;

/// <summary>
/// A pool file being made: it is written under a hidden temporary name beside its final name
/// (<c>.&lt;file&gt;.&lt;random&gt;.tmp</c>; a safe name never starts with a dot, so it cannot be mistaken for a volume
/// or an image), created exclusively (so never through a symlink planted there), and only once complete synced and
/// renamed into place with a rename that never replaces anything. Disposed before <see cref="Commit"/> (a failure, a
/// full disk, a cancellation), it deletes the temporary file, so a failed create leaves no file behind.
/// </summary>
internal sealed class PendingFile : IDisposable
{
    private bool _committed;

    private PendingFile(string path, string finalPath)
    {
        Path = path;
        FinalPath = finalPath;
    }

    /// <summary>The temporary file, empty at first, for qemu-img to write.</summary>
    public string Path { get; }

    public string FinalPath { get; }

    /// <summary>True for the temporary files of <see cref="PendingFile"/>.</summary>
    public static bool IsTemporary(string fileName) =>
        fileName.StartsWith('.') && fileName.EndsWith(".tmp", StringComparison.Ordinal);

    public static PendingFile Create(string finalPath)
    {
        var directory = System.IO.Path.GetDirectoryName(finalPath)!;
        var name = System.IO.Path.GetFileName(finalPath);
        var path = System.IO.Path.Combine(directory, $".{name}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}.tmp");
        FileSystem.CreateExclusive(path);
        return new PendingFile(path, finalPath);
    }

    /// <summary>
    /// Syncs the file, renames it to <see cref="FinalPath"/> (<c>EEXIST</c> when a file of that name appeared meanwhile;
    /// then nothing is replaced) and syncs the folder, so that the name never points at a half-written file.
    /// </summary>
    public void Commit()
    {
        FileSystem.Sync(Path);
        FileSystem.RenameNoReplace(Path, FinalPath);
        _committed = true;
        FileSystem.Sync(System.IO.Path.GetDirectoryName(FinalPath)!, directory: true);
    }

    public void Dispose()
    {
        if (!_committed)
        {
            try
            {
                File.Delete(Path); // unlink(2): removes the name itself, never what it might point to
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Already gone, or the folder with it; nothing else can be done here.
            }
        }
    }
}
