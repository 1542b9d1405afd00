using System.Globalization;

namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// The argument list that starts one VM's QEMU, confined; no shell string is ever built from data. The chain, each
/// step exec'ing the next by absolute path (so the pid the launcher reports is QEMU's):
/// <list type="number">
/// <item><c>/usr/bin/setsid --fork</c>: a session of its own (signals for the silo's process group or terminal never
/// reach QEMU) and a fork, so the .NET process that started it ends at once and QEMU is re-parented to the silo, its
/// subreaper, which reaps it itself.</item>
/// <item><c>/bin/sh -c <see cref="Script"/></c> with everything as positional parameters: prints its pid, joins the
/// VM's cgroup (writes that pid into each <c>cgroup.procs</c>), and points stdio at the VM's <c>qemu.log</c>.</item>
/// <item>optionally <c>/usr/bin/nsenter --net=PATH</c>, for a driver whose VMs live in another network namespace.</item>
/// <item><c>/usr/bin/setpriv</c>: the VM's uid, group <c>fabric-qemu</c> only, no capabilities (inheritable, ambient
/// and bounding sets cleared) and no_new_privs, so nothing it execs can regain privilege.</item>
/// <item>QEMU, by the absolute path resolved at driver creation.</item>
/// </list>
/// </summary>
public static class QemuLauncher
{
    public const string Setsid = "/usr/bin/setsid";
    public const string Shell = "/bin/sh";
    public const string Setpriv = "/usr/bin/setpriv";
    public const string Nsenter = "/usr/bin/nsenter";

    /// <summary>
    /// $1: qemu.log; then the cgroup.procs files up to "--"; then the program and its arguments. Exit 125 when the
    /// cgroup cannot be joined (QEMU never runs outside its limits).
    /// </summary>
    public const string Script =
        "log=$1; shift; echo $$; " +
        "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; " +
        "exec \"$@\" </dev/null >>\"$log\" 2>&1";

    public static IReadOnlyList<string> Arguments(string qemuBinary, IReadOnlyList<string> qemuArguments, int uid, int gid, string log, IReadOnlyList<string> procsFiles, string? networkNamespace)
    {
        ArgumentNullException.ThrowIfNull(qemuArguments);
        ArgumentNullException.ThrowIfNull(procsFiles);
        if (!Path.IsPathFullyQualified(qemuBinary))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"QEMU must be started by absolute path, not '{qemuBinary}'");
        }

        if (uid <= 0 || gid <= 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"QEMU may not run as uid {uid}, gid {gid}");
        }

        var arguments = new List<string> { "--fork", Shell, "-c", Script, "sh", log };
        arguments.AddRange(procsFiles);
        arguments.Add("--");
        if (networkNamespace is not null)
        {
            arguments.AddRange([Nsenter, "--net=" + networkNamespace, "--"]);
        }

        arguments.AddRange(
        [
            Setpriv,
            "--reuid=" + uid.ToString(CultureInfo.InvariantCulture),
            "--regid=" + gid.ToString(CultureInfo.InvariantCulture),
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            qemuBinary,
        ]);
        arguments.AddRange(qemuArguments);
        return arguments;
    }

    /// <summary>
    /// The absolute path of <paramref name="binary"/>: itself when it has a slash, else the first executable of that name
    /// on PATH — resolved once, so a PATH changed later cannot swap the program root starts.
    /// </summary>
    public static string ResolveBinary(string binary)
    {
        if (binary.Contains('/', StringComparison.Ordinal))
        {
            return Path.GetFullPath(binary);
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, binary);
            if (File.Exists(candidate) && Ownership.Of(candidate) is { } facts && facts.Mode.HasFlag(UnixFileMode.UserExecute))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot find {binary} on PATH (run ./fabric setup)");
    }
}
