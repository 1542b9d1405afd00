namespace Fabric.Hypervisor.Linux;

/// <summary>
/// Whether QEMU may use userfaultfd, which post-copy migration needs on the target (and a background snapshot on its
/// source): QEMU 7.2 calls the syscall directly, which the kernel allows an unprivileged process — as every confined
/// QEMU is, whoever runs the driver (docs/confinement.md) — only with <c>vm.unprivileged_userfaultfd = 1</c>.
/// </summary>
public static class Userfaultfd
{
    private const string UnprivilegedSetting = "/proc/sys/vm/unprivileged_userfaultfd";

    /// <summary>Why post-copy cannot work on this machine, or null when it can.</summary>
    public static string? UnavailableReason()
    {
        string? setting;
        try
        {
            setting = File.ReadAllText(UnprivilegedSetting).Trim();
        }
        catch (IOException)
        {
            setting = null;
        }

        return setting == "1"
            ? null
            : $"post-copy needs userfaultfd, which this kernel allows unprivileged QEMU processes only with vm.unprivileged_userfaultfd=1 (it is {setting ?? "absent"}), and QEMU runs unprivileged";
    }
}
