using System.Security.Cryptography;
using System.Text;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Where one VM's runtime files live under the host's data directory. The driver's records go in <c>vms/&lt;name&gt;/</c>,
/// root's directory (group fabric-qemu, 0710), each record root 0600; of its files only <c>console.log</c> belongs to the
/// VM's uid (pre-created by the driver; QEMU appends to it). What QEMU itself creates — its QMP socket, pid file and memory
/// dumps — goes in <c>run/&lt;hash&gt;/</c> (a short hash of the name, because a socket path may not exceed 107 bytes),
/// which belongs to the VM's uid (0700): the driver reads nothing there without O_NOFOLLOW, nor trusts what it reads.
/// </summary>
public sealed record VmPaths(string Directory, string PidFile, string ConsoleLog, string InstanceFile, string QmpSocket)
{
    /// <summary>The longest socket path the kernel accepts (sun_path is 108 bytes with its terminator).</summary>
    public const int MaxSocketPath = 107;

    private const int SocketNameLength = 16; // 12 hex digits + "/qmp"

    public static VmPaths For(string dataDirectory, string vm)
    {
        EnsureSafeName(vm);
        var directory = Path.Combine(dataDirectory, "vms", vm);
        var runDirectory = Path.Combine(dataDirectory, "run", ShortHash(vm));

        // The kernel counts bytes, so a data directory within MaxDataDirectoryLength characters can still be too long.
        if (Encoding.UTF8.GetByteCount(Path.Combine(runDirectory, "qmp")) > MaxSocketPath)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                $"data directory '{dataDirectory}' is too long for VM sockets: at most {MaxDataDirectoryLength} bytes");
        }

        return new VmPaths(
            directory,
            Path.Combine(runDirectory, "qemu.pid"),
            Path.Combine(directory, "console.log"),
            Path.Combine(directory, "instance.json"),
            Path.Combine(runDirectory, "qmp"));
    }

    /// <summary>The VM's private socket directory, <c>run/&lt;hash&gt;/</c>.</summary>
    public string RunDirectory => Path.GetDirectoryName(QmpSocket)!;

    /// <summary>Where a snapshot's migration stream passes between QEMU and the driver (a UNIX socket the driver serves).</summary>
    public string MigrationSocket => Path.Combine(RunDirectory, "mig");

    /// <summary>QEMU's own stdout and stderr (its error messages), bounded by the driver; read to explain a failed start.</summary>
    public string QemuLog => Path.Combine(Directory, "qemu.log");

    /// <summary>The console output rotated out of <see cref="ConsoleLog"/> last time (see <see cref="Qemu.ConsoleLog"/>).</summary>
    public string RotatedConsoleLog => ConsoleLog + ".1";

    /// <summary>The disks of the live process, launched with or hot-plugged since (see <see cref="Qemu.DiskRecord"/>).</summary>
    public string DisksFile => Path.Combine(Directory, "disks.json");

    /// <summary>The NICs of the live process, launched with or hot-plugged since (see <see cref="Qemu.NicRecord"/>).</summary>
    public string NicsFile => Path.Combine(Directory, "nics.json");

    /// <summary>Where <see cref="ConsoleLog"/> starts in the console's logical offsets, and a rotation in progress.</summary>
    public string ConsoleLogState => ConsoleLog + ".state";

    /// <summary>The longest data directory path, in UTF-8 bytes, whose sockets still fit the kernel's limit.</summary>
    public static int MaxDataDirectoryLength => MaxSocketPath - "/run/".Length - SocketNameLength;

    /// <summary>Defence in depth: the driver re-checks that a VM name cannot escape its directory or split a QEMU option.</summary>
    public static void EnsureSafeName(string vm) => SafeNames.Ensure(vm, "VM");

    private static string ShortHash(string vm) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(vm)))[..12];
}
