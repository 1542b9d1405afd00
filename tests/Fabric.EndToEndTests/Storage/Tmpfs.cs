namespace Fabric.EndToEndTests.Storage;

/// <summary>A small tmpfs mounted on a fresh folder for one test (root only), unmounted when disposed.</summary>
internal sealed class Tmpfs : IAsyncDisposable
{
    private Tmpfs(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public static async Task<Tmpfs> MountAsync(string directory, int sizeMiB)
    {
        Directory.CreateDirectory(directory);
        await StorageTools.RunAsync("mount", "-t", "tmpfs", "-o", $"size={sizeMiB}m,mode=0700", "tmpfs", directory);
        return new Tmpfs(directory);
    }

    /// <summary>Writes into <paramref name="fileName"/> until the file system is full.</summary>
    public void Fill(string fileName)
    {
        using var file = new FileStream(System.IO.Path.Combine(Path, fileName), FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)0xa5);
        try
        {
            while (true)
            {
                file.Write(chunk);
            }
        }
        catch (IOException)
        {
            // ENOSPC: full, as wanted.
        }

        // Page by page: the last chunk may not have fit while a smaller piece still does.
        try
        {
            while (true)
            {
                file.Write(chunk, 0, 4096);
            }
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        var result = await StorageTools.TryRunAsync("umount", Path);
        if (result.ExitCode != 0)
        {
            await StorageTools.TryRunAsync("umount", "-l", Path);
        }
    }
}
