using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Accel;

/// <summary>How the operator wants guests accelerated.</summary>
public enum AcceleratorMode
{
    /// <summary>KVM when it really works here, TCG otherwise.</summary>
    Auto,

    /// <summary>KVM, whatever the checks say (QEMU fails at launch if it cannot).</summary>
    Kvm,

    /// <summary>Software emulation only.</summary>
    Tcg,
}

/// <summary>The accelerator chosen for this host and why.</summary>
public sealed record AcceleratorChoice(string Name, string Reason)
{
    public bool IsKvm => Name == "kvm";
}

/// <summary>What the machine says about KVM, read once at start-up.</summary>
/// <param name="DeviceExists">Whether <c>/dev/kvm</c> exists.</param>
/// <param name="OpenError">Why opening it read-write failed, or null when it opened.</param>
/// <param name="ApiVersion">The answer to <c>KVM_GET_API_VERSION</c> (12 on every real KVM), when it opened.</param>
/// <param name="CpuVirtualization"><c>vmx</c> or <c>svm</c> when <c>/proc/cpuinfo</c> reports one, else null.</param>
/// <param name="ParavirtualKvm">Whether the <c>kvm_pvm</c> module is loaded (a paravirtual KVM that cannot run a standard guest).</param>
public sealed record KvmFacts(bool DeviceExists, string? OpenError, int? ApiVersion, string? CpuVirtualization, bool ParavirtualKvm);

/// <summary>
/// Decides KVM vs TCG by a real check, not by the presence of <c>/dev/kvm</c>: the device must open and answer the
/// KVM API, and the CPU must offer hardware virtualization (vmx/svm). Some machines have a paravirtual KVM
/// (<c>kvm_pvm</c>) whose <c>/dev/kvm</c> opens and answers but cannot run a standard Linux guest; they get TCG.
/// </summary>
public static class AcceleratorProbe
{
    public const int KvmApiVersion = 12;

    public static AcceleratorChoice Decide(AcceleratorMode mode, KvmFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        switch (mode)
        {
            case AcceleratorMode.Tcg:
                return new("tcg", "configured: accelerator=tcg");
            case AcceleratorMode.Kvm:
                return new("kvm", "configured: accelerator=kvm" + (Usable(facts, out var why) ? "" : $" (warning: {why})"));
        }

        return Usable(facts, out var reason)
            ? new("kvm", reason)
            : new("tcg", $"KVM not usable: {reason}; using TCG software emulation");
    }

    /// <summary>Reads <see cref="KvmFacts"/> from this machine.</summary>
    public static KvmFacts ReadFacts(string device = "/dev/kvm", string cpuInfo = "/proc/cpuinfo", string modules = "/sys/module")
    {
        var exists = File.Exists(device);
        string? openError = null;
        int? apiVersion = null;
        if (exists)
        {
            try
            {
                using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite);
                var answer = Native.ioctl(handle, Native.KVM_GET_API_VERSION, 0);
                if (answer >= 0)
                {
                    apiVersion = answer;
                }
                else
                {
                    openError = $"KVM_GET_API_VERSION failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})";
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                openError = ex.Message;
            }
        }

        return new KvmFacts(exists, openError, apiVersion, ReadCpuVirtualization(cpuInfo), Directory.Exists(Path.Combine(modules, "kvm_pvm")));
    }

    /// <summary>The hardware virtualization flag in a <c>/proc/cpuinfo</c> text, if any.</summary>
    public static string? CpuVirtualizationFlag(string cpuInfo)
    {
        ArgumentNullException.ThrowIfNull(cpuInfo);
        foreach (var line in cpuInfo.Split('\n'))
        {
            if (!line.StartsWith("flags", StringComparison.Ordinal))
            {
                continue;
            }

            var flags = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (flags.Contains("vmx"))
            {
                return "vmx";
            }

            if (flags.Contains("svm"))
            {
                return "svm";
            }
        }

        return null;
    }

    private static string? ReadCpuVirtualization(string path) =>
        File.Exists(path) ? CpuVirtualizationFlag(File.ReadAllText(path)) : null;

    private static bool Usable(KvmFacts facts, out string reason)
    {
        if (!facts.DeviceExists)
        {
            reason = "no /dev/kvm";
            return false;
        }

        if (facts.OpenError is not null)
        {
            reason = $"/dev/kvm cannot be used ({facts.OpenError})";
            return false;
        }

        if (facts.ApiVersion != KvmApiVersion)
        {
            reason = $"/dev/kvm answers KVM API version {facts.ApiVersion}, expected {KvmApiVersion}";
            return false;
        }

        if (facts.CpuVirtualization is null)
        {
            reason = facts.ParavirtualKvm
                ? "/dev/kvm is a paravirtual KVM (kvm_pvm) and the CPU reports no vmx/svm: it cannot run a standard Linux guest"
                : "/dev/kvm opens but the CPU reports no vmx/svm hardware virtualization";
            return false;
        }

        reason = $"/dev/kvm usable (KVM API {KvmApiVersion}, CPU has {facts.CpuVirtualization})";
        return true;
    }
}
