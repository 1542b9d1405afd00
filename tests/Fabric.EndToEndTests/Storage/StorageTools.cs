using System.Diagnostics;
using System.Text.Json;

namespace Fabric.EndToEndTests.Storage;

/// <summary>The command-line tools the storage tests check the store's work with: qemu-img, qemu-io, mount.</summary>
internal static class StorageTools
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>Runs <paramref name="program"/> and returns what it printed; throws when it exits non-zero.</summary>
    public static async Task<string> RunAsync(string program, params string[] arguments)
    {
        var result = await TryRunAsync(program, arguments);
        return result.ExitCode == 0
            ? result.Output
            : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Error}");
    }

    public static async Task<Result> TryRunAsync(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        using var timeout = new CancellationTokenSource(Patience);
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await output, await error);
    }

    /// <summary>An empty qcow2 image <c>NAME.qcow2</c> of <paramref name="size"/> (qemu-img's notation, e.g. <c>64M</c>) in <paramref name="directory"/>.</summary>
    public static async Task<string> CreateQcow2Async(string directory, string name, string size)
    {
        var path = Path.Combine(directory, $"{name}.qcow2");
        await RunAsync("qemu-img", "create", "-q", "-f", "qcow2", path, size);
        return path;
    }

    /// <summary><c>qemu-img info --output=json -f FORMAT -U PATH</c>, as qemu-img prints it.</summary>
    public static async Task<JsonElement> InfoAsync(string path, string format)
    {
        using var document = JsonDocument.Parse(await RunAsync("qemu-img", "info", "--output=json", "-f", format, "-U", path));
        return document.RootElement.Clone();
    }

    /// <summary>Writes 0xcd over <paramref name="bytes"/> bytes from the start of the qcow2 at <paramref name="path"/>.</summary>
    public static Task WriteIntoAsync(string path, long bytes) =>
        RunAsync("qemu-io", "-f", "qcow2", "-c", $"write 0 {bytes}", path);

    /// <summary>True when both images read the same (the larger one's excess must read as zeros).</summary>
    public static async Task<bool> SameContentsAsync(string first, string firstFormat, string second, string secondFormat) =>
        (await TryRunAsync("qemu-img", "compare", "-U", "-f", firstFormat, "-F", secondFormat, first, second)).ExitCode == 0;

    /// <summary>
    /// A raw file of <paramref name="sizeBytes"/> whose first <paramref name="dataBytes"/> are random (allocated) and the
    /// rest a hole.
    /// </summary>
    public static string RawFile(string path, long dataBytes, long sizeBytes)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        var chunk = new byte[1 << 20];
        for (long written = 0; written < dataBytes; written += chunk.Length)
        {
            Random.Shared.NextBytes(chunk);
            file.Write(chunk, 0, (int)Math.Min(chunk.Length, dataBytes - written));
        }

        file.SetLength(sizeBytes);
        return path;
    }

    /// <summary>The names in a folder (files, folders and links alike).</summary>
    public static string[] Entries(string directory) =>
        [.. Directory.EnumerateFileSystemEntries(directory).Select(entry => Path.GetFileName(entry)).Order(StringComparer.Ordinal)];
}
