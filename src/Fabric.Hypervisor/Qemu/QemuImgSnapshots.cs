using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Internal snapshots of qcow2 files no process has open, through <c>qemu-img</c> (from <c>PATH</c>, installed with
/// QEMU by <c>./fabric setup</c>). The format is always given: <c>qemu-img snapshot</c> has no <c>-f</c> in QEMU 7.2, so
/// the image is named by its options (<see cref="ImageOptions"/>). Without <c>-U</c> qemu-img takes QEMU's image locks,
/// so it refuses a file that a running QEMU holds instead of changing it under that process.
/// </summary>
internal static class QemuImgSnapshots
{
    private const string Binary = "qemu-img";

    /// <summary>The names of the file's internal snapshots.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(string path, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["info", "--output=json", "-f", "qcow2", path], cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(output);
            return VirtioDisk.SnapshotNames(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"qemu-img info of '{path}' printed no JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Reverts the file to its internal snapshot <paramref name="name"/>.</summary>
    public static Task ApplyAsync(string path, string name, CancellationToken cancellationToken) =>
        RunAsync(["snapshot", "--image-opts", "-a", name, ImageOptions(path)], cancellationToken);

    /// <summary>Deletes the file's internal snapshot <paramref name="name"/> (which must exist).</summary>
    public static Task DeleteAsync(string path, string name, CancellationToken cancellationToken) =>
        RunAsync(["snapshot", "--image-opts", "-d", name, ImageOptions(path)], cancellationToken);

    /// <summary>A qcow2 file as <c>--image-opts</c> names it: the format layer over the file, the path's commas doubled.</summary>
    internal static string ImageOptions(string path) => $"driver=qcow2,file.driver=file,file.filename={QemuCommandLine.Escape(path)}";

    private static async Task<string> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var startInfo = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"could not start {Binary}");
        }
        catch (Win32Exception ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot run {Binary}: {ex.Message} (run ./fabric setup)", ex);
        }

        using (process)
        {
            // Not cancelled half-way: killed while it rewrites a snapshot table, qemu-img could leave the file
            // needing a repair; it takes milliseconds.
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            var output = await stdout.ConfigureAwait(false);
            var errors = (await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"{Binary} {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {errors}");
            }

            return output;
        }
    }
}
