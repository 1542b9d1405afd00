using Fabric.Hypervisor.Accel;

namespace Fabric.Hypervisor.Qemu;

public sealed class QemuDriverOptions
{
    /// <summary>Where VM runtime files (pid files, console logs, sockets) live; must be short enough for socket paths.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>The folder of guest images (one sub-folder with an image.json per image).</summary>
    public string ImagesDirectory { get; set; } = "";

    public string QemuBinary { get; set; } = "qemu-system-x86_64";

    public AcceleratorMode Accelerator { get; set; } = AcceleratorMode.Auto;

    /// <summary>How long QEMU may take to initialise and daemonize.</summary>
    public TimeSpan LaunchTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a QMP command may take.</summary>
    public TimeSpan QmpTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>After <c>quit</c>, how long before the process is killed.</summary>
    public TimeSpan QuitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most console output kept on disk per VM (<c>console.log</c> and <c>console.log.1</c> together; at least
    /// 64 KiB). Older output is rotated away; the files can exceed it by what the guest writes between two checks
    /// (docs/hypervisor.md, Console).
    /// </summary>
    public long ConsoleLogLimitBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// The host's certificate for migration and disk-mirror streams to other hosts; null sends them in the clear, which
    /// only a development fabric on one machine should do (the driver says so when it starts).
    /// </summary>
    public StreamTlsFiles? StreamTls { get; set; }
}
