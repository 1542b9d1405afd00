using Fabric.Hypervisor.Accel;

namespace Fabric.Hypervisor.Qemu;

public sealed class QemuDriverOptions
{
    /// <summary>Where VM runtime files (pid files, console logs, sockets) live; must be short enough for socket paths.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>The folder of guest images (one sub-folder with an image.json per image).</summary>
    public string ImagesDirectory { get; set; } = "";

    /// <summary>QEMU's program; a bare name is resolved on PATH once, at driver creation, and started by that absolute path.</summary>
    public string QemuBinary { get; set; } = "qemu-system-x86_64";

    /// <summary>The first uid of the range VM processes run as (one per VM instance; no account needs to exist).</summary>
    public int VmUidBase { get; set; } = 2_000_000_000;

    /// <summary>How many uids the range holds.</summary>
    public int VmUidCount { get; set; } = 1_000_000;

    /// <summary>The most tasks (processes and threads) one QEMU may have; TCG QEMU runs about ten (docs/confinement.md).</summary>
    public int PidsLimit { get; set; } = 256;

    /// <summary>
    /// The host's name in the cgroup tree (<c>fabric/&lt;host&gt;/…</c>); empty: the data directory's last component,
    /// which is the host id where the silo and <c>./fabric</c> lay it out.
    /// </summary>
    public string CgroupHost { get; set; } = "";

    /// <summary>A network namespace (e.g. <c>/run/netns/x</c>) the VMs' QEMU runs in and their taps live in; null: the driver's own.</summary>
    public string? NetworkNamespace { get; set; }

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

    /// <summary>
    /// Folders, besides the <c>volumes/</c> folders of the storage pools this driver prepared, that VM disks may lie in
    /// (directly): for tests and tools that make disk files themselves. A disk anywhere else is refused.
    /// </summary>
    public IReadOnlyList<string> DiskRoots { get; set; } = [];

    /// <summary>
    /// Test/diagnostic override only: the cgroup memory limit of every VM instead of its RAM plus QEMU's overhead (e.g.
    /// below it, to see the out-of-memory killer at work). Null, the default, in production.
    /// </summary>
    public long? MemoryLimitOverrideMiB { get; set; }
}
