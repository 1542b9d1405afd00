using Fabric.Hypervisor.Accel;

namespace Fabric.UnitTests.Accel;

public sealed class AcceleratorProbeTests
{
    private static readonly KvmFacts NoDevice = new(DeviceExists: false, OpenError: null, ApiVersion: null, CpuVirtualization: null, ParavirtualKvm: false);
    private static readonly KvmFacts IntelKvm = new(DeviceExists: true, OpenError: null, ApiVersion: 12, CpuVirtualization: "vmx", ParavirtualKvm: false);
    private static readonly KvmFacts PvmKvm = new(DeviceExists: true, OpenError: null, ApiVersion: 12, CpuVirtualization: null, ParavirtualKvm: true);

    [Fact]
    public void Auto_WithoutDevice_UsesTcgAndSaysWhy()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, NoDevice);

        Assert.Equal("tcg", choice.Name);
        Assert.False(choice.IsKvm);
        Assert.Contains("no /dev/kvm", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_DeviceThatWillNotOpen_UsesTcgWithTheError()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, IntelKvm with { OpenError = "Permission denied", ApiVersion = null });

        Assert.Equal("tcg", choice.Name);
        Assert.Contains("Permission denied", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_ParavirtualKvmWithoutVmxOrSvm_UsesTcg()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, PvmKvm);

        Assert.Equal("tcg", choice.Name);
        Assert.Contains("paravirtual", choice.Reason, StringComparison.Ordinal);
        Assert.Contains("kvm_pvm", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Auto_DeviceOpensButCpuHasNoVirtualization_UsesTcg()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, IntelKvm with { CpuVirtualization = null });

        Assert.Equal("tcg", choice.Name);
        Assert.Contains("vmx/svm", choice.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("paravirtual", choice.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(0)]
    [InlineData(null)]
    public void Auto_UnexpectedApiVersion_UsesTcg(int? version)
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, IntelKvm with { ApiVersion = version });

        Assert.Equal("tcg", choice.Name);
        Assert.Contains("API version", choice.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vmx")]
    [InlineData("svm")]
    public void Auto_WorkingKvmWithHardwareVirtualization_UsesKvm(string flag)
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Auto, IntelKvm with { CpuVirtualization = flag });

        Assert.Equal("kvm", choice.Name);
        Assert.True(choice.IsKvm);
        Assert.Contains(flag, choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TcgOverride_WinsOverWorkingKvm()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Tcg, IntelKvm);

        Assert.Equal("tcg", choice.Name);
        Assert.Contains("configured", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvmOverride_IsHonouredWithAWarningWhenChecksFail()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Kvm, PvmKvm);

        Assert.Equal("kvm", choice.Name);
        Assert.Contains("configured", choice.Reason, StringComparison.Ordinal);
        Assert.Contains("warning", choice.Reason, StringComparison.Ordinal);
        Assert.Contains("paravirtual", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KvmOverride_WithWorkingKvm_HasNoWarning()
    {
        var choice = AcceleratorProbe.Decide(AcceleratorMode.Kvm, IntelKvm);

        Assert.Equal("kvm", choice.Name);
        Assert.DoesNotContain("warning", choice.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CpuVirtualizationFlag_FindsVmxOnIntel()
    {
        const string cpuInfo = """
            processor	: 0
            vendor_id	: GenuineIntel
            model name	: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
            flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc vmx ssse3 fma cx16
            vmx flags	: vnmi preemption_timer invvpid ept_x_only ept_ad

            processor	: 1
            flags		: fpu vme de pse tsc msr pae vmx ssse3

            """;

        Assert.Equal("vmx", AcceleratorProbe.CpuVirtualizationFlag(cpuInfo));
    }

    [Fact]
    public void CpuVirtualizationFlag_FindsSvmOnAmd()
    {
        const string cpuInfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de pse tsc msr svm extapic cr8_legacy abm\n";

        Assert.Equal("svm", AcceleratorProbe.CpuVirtualizationFlag(cpuInfo));
    }

    [Theory]
    [InlineData("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n")] // a paravirtual KVM guest
    [InlineData("processor\t: 0\nflags\t\t: fpu vmxe svmx nosvm\n")] // look-alike flags
    [InlineData("processor\t: 0\nvmx flags\t: vnmi preemption_timer\nflags\t\t: fpu vme\n")] // not the flags line
    [InlineData("model name\t: vmx svm\n")]
    [InlineData("")]
    public void CpuVirtualizationFlag_IsNullWithoutVmxOrSvm(string cpuInfo)
    {
        Assert.Null(AcceleratorProbe.CpuVirtualizationFlag(cpuInfo));
    }

    [Fact]
    public void CpuVirtualizationFlag_FindsTheLastFlagOfALine()
    {
        Assert.Equal("vmx", AcceleratorProbe.CpuVirtualizationFlag("flags\t\t: fpu vmx"));
        Assert.Equal("svm", AcceleratorProbe.CpuVirtualizationFlag("flags\t\t: fpu svm\n"));
    }

    [Fact]
    public void ReadFacts_WithoutDevice_ReadsCpuAndModules()
    {
        using var temp = new TempDirectory();
        var cpuInfo = temp.WriteFile("cpuinfo", "processor\t: 0\nflags\t\t: fpu svm\n");
        Directory.CreateDirectory(temp.Combine("module", "kvm_pvm"));

        var facts = AcceleratorProbe.ReadFacts(temp.Combine("kvm"), cpuInfo, temp.Combine("module"));

        Assert.Equal(new KvmFacts(false, null, null, "svm", true), facts);
    }

    [Fact]
    public void ReadFacts_DeviceThatDoesNotAnswerKvmIoctls_ReportsTheFailure()
    {
        using var temp = new TempDirectory();
        var notKvm = temp.WriteFile("kvm", "");

        var facts = AcceleratorProbe.ReadFacts(notKvm, temp.Combine("no-cpuinfo"), temp.Combine("no-modules"));

        Assert.True(facts.DeviceExists);
        Assert.Null(facts.ApiVersion);
        Assert.Contains("KVM_GET_API_VERSION", facts.OpenError, StringComparison.Ordinal);
        Assert.Null(facts.CpuVirtualization);
        Assert.False(facts.ParavirtualKvm);
        Assert.Equal("tcg", AcceleratorProbe.Decide(AcceleratorMode.Auto, facts).Name);
    }
}
