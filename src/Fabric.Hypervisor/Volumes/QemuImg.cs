using System.Globalization;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Volumes;

/// <summary>
/// Runs the <c>qemu-img</c> binary: an argument list (never a shell), stdout and stderr captured and bounded, a
/// timeout, and the process killed when the caller cancels. The format is always given (<c>-f</c>, <c>-F</c>), except
/// in <see cref="ProbeAsync"/>. Reads pass <c>-U</c> (no locks taken, so a running VM's file can be read).
/// Failures are <see cref="HypervisorException"/>: <c>NoSpace</c> when qemu-img reports <c>ENOSPC</c> or
/// <c>EDQUOT</c>, <c>Conflict</c> when another process holds the image's lock, <c>Failed</c> otherwise (a timeout, an
/// exit code, output beyond <see cref="QemuImgOptions.MaxOutputChars"/>).
/// </summary>
public sealed class QemuImg
{
    private readonly QemuImgOptions _options;

    public QemuImg()
        : this(new QemuImgOptions())
    {
    }

    public QemuImg(QemuImgOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary><c>qemu-img create -f qcow2 [-b BACKING -F FORMAT] PATH SIZE</c>: a thin qcow2, empty or a linked clone.</summary>
    public Task CreateAsync(string path, long sizeBytes, string? backingFile, string? backingFormat, CancellationToken cancellationToken)
    {
        List<string> arguments = ["create", "-q", "-f", "qcow2"];
        if (backingFile is not null)
        {
            ArgumentNullException.ThrowIfNull(backingFormat);
            arguments.AddRange(["-b", backingFile, "-F", backingFormat]);
        }

        arguments.AddRange([path, Bytes(sizeBytes)]);
        return RunAsync(arguments, $"create {path}", _options.WriteTimeout, limited: false, cancellationToken);
    }

    /// <summary><c>qemu-img info --output=json -f FORMAT -U PATH</c>.</summary>
    public async Task<QemuImgInfo> InfoAsync(string path, string format, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["info", "--output=json", "-f", format, "-U", path], $"info {path}", _options.InfoTimeout, limited: false, cancellationToken)
            .ConfigureAwait(false);
        return QemuImgInfo.Parse(output);
    }

    /// <summary>
    /// <c>qemu-img info --output=json -f FORMAT --backing-chain -U PATH</c>: the image, then each backing file as
    /// recorded (qemu-img opens them all, each with the format recorded or else probed).
    /// </summary>
    public async Task<IReadOnlyList<QemuImgInfo>> InfoChainAsync(string path, string format, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["info", "--output=json", "-f", format, "--backing-chain", "-U", path], $"info {path}", _options.InfoTimeout, limited: false, cancellationToken)
            .ConfigureAwait(false);
        return QemuImgInfo.ParseChain(output);
    }

    /// <summary>
    /// The one probe: <c>qemu-img info --output=json -U PATH</c> without <c>-f</c>, under <c>prlimit</c> (address space
    /// and CPU time, see <see cref="QemuImgOptions"/>), for a file from outside whose format is not known yet. The format
    /// it reports must then be pinned: every later command names it.
    /// </summary>
    public async Task<QemuImgInfo> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        var output = await RunAsync(["info", "--output=json", "-U", path], $"info {path}", _options.InfoTimeout, limited: true, cancellationToken)
            .ConfigureAwait(false);
        return QemuImgInfo.Parse(output);
    }

    /// <summary><c>qemu-img resize -f qcow2 PATH SIZE</c> (takes the image's write lock: <c>Conflict</c> while a process has it open).</summary>
    public Task ResizeAsync(string path, long sizeBytes, CancellationToken cancellationToken) =>
        RunAsync(["resize", "-q", "-f", "qcow2", path, Bytes(sizeBytes)], $"resize {path}", _options.WriteTimeout, limited: false, cancellationToken);

    /// <summary>
    /// <c>qemu-img convert -U -f FORMAT -O OUTPUT -S 4k SOURCE DESTINATION</c>: a full copy of the source's current
    /// contents (no backing file, no internal snapshots), zero runs of 4 KiB and more left unallocated.
    /// </summary>
    public Task ConvertAsync(string source, string sourceFormat, string destination, string destinationFormat, CancellationToken cancellationToken) =>
        RunAsync(
            ["convert", "-q", "-U", "-f", sourceFormat, "-O", destinationFormat, "-S", "4k", source, destination],
            $"convert {source} to {destination}",
            _options.CopyTimeout,
            limited: false,
            cancellationToken);

    private static string Bytes(long sizeBytes) => sizeBytes.ToString(CultureInfo.InvariantCulture);

    private async Task<string> RunAsync(IReadOnlyList<string> arguments, string what, TimeSpan timeout, bool limited, CancellationToken cancellationToken)
    {
        List<string> commandLine = limited
            ? [
                $"--as={_options.ProbeAddressSpaceBytes.ToString(CultureInfo.InvariantCulture)}",
                $"--cpu={_options.ProbeCpuSeconds.ToString(CultureInfo.InvariantCulture)}",
                "--",
                _options.Binary,
                .. arguments,
            ]
            : [.. arguments];

        // LC_ALL=C (the runner's): "No space left on device" is how ENOSPC is recognised.
        var result = await CommandRunner.RunAsync(
            limited ? _options.PrlimitBinary : _options.Binary,
            commandLine,
            input: null,
            timeout,
            _options.MaxOutputChars,
            $"qemu-img {what}",
            cancellationToken).ConfigureAwait(false);
        return result.ExitCode == 0 ? result.Output : throw Failure(what, result.ExitCode, result.Error);
    }

    /// <summary>What a failed qemu-img said, as an error of the right kind.</summary>
    internal static HypervisorException Failure(string what, int exitCode, string stderr)
    {
        var said = CommandRunner.OneLine(stderr, line => line.StartsWith("qemu-img: ", StringComparison.Ordinal) ? line["qemu-img: ".Length..] : line);
        var message = said.Length > 0 ? $"qemu-img {what}: {said}" : $"qemu-img {what} failed with exit code {exitCode}";
        var kind =
            said.Contains("No space left on device", StringComparison.Ordinal) || said.Contains("Disk quota exceeded", StringComparison.Ordinal)
                ? HypervisorErrorKind.NoSpace
            : said.Contains("Failed to get", StringComparison.Ordinal) && said.Contains("lock", StringComparison.Ordinal)
                ? HypervisorErrorKind.Conflict
            : HypervisorErrorKind.Failed;
        return new HypervisorException(kind, message);
    }
}
