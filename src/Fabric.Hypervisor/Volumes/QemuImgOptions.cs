namespace Fabric.Hypervisor.Volumes;

/// <summary>How <see cref="QemuImg"/> runs <c>qemu-img</c>.</summary>
public sealed class QemuImgOptions
{
    public string Binary { get; set; } = "qemu-img";

    /// <summary>util-linux's <c>prlimit</c> (Essential on Debian), which bounds the probe of a file from outside.</summary>
    public string PrlimitBinary { get; set; } = "prlimit";

    /// <summary>How long <c>info</c> may take.</summary>
    public TimeSpan InfoTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>create</c> and <c>resize</c> may take.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a <c>convert</c> (a full copy) may take.</summary>
    public TimeSpan CopyTimeout { get; set; } = TimeSpan.FromHours(6);

    /// <summary>The most a command may print on each of stdout and stderr; it is killed beyond.</summary>
    public int MaxOutputChars { get; set; } = 1024 * 1024;

    /// <summary>
    /// The address space the probe of an untrusted file may use (<c>prlimit --as</c>): a crafted qcow2 can make
    /// <c>qemu-img info</c> allocate without bound. 1 GiB, as OpenStack limits it.
    /// </summary>
    public long ProbeAddressSpaceBytes { get; set; } = 1L << 30;

    /// <summary>The CPU seconds the probe of an untrusted file may use (<c>prlimit --cpu</c>).</summary>
    public int ProbeCpuSeconds { get; set; } = 30;
}
