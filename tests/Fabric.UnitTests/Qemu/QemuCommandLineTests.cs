using Fabric.Hypervisor;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class QemuCommandLineTests
{
    private const string DataDirectory = "/srv/fabric";
    private static readonly Guid Instance = Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01");
    private static readonly LaunchSpec Spec = new("web-1", 7, Instance, 2, 256, "tiny");
    private static readonly AcceleratorChoice Tcg = new("tcg", "test");
    private static readonly AcceleratorChoice Kvm = new("kvm", "test");
    private static readonly GuestImage Tiny = new("tiny", GuestBoot.Disk, "/images/tiny/tiny.img", null, null, null, 2, "boot sector");
    private static readonly GuestImage Linux = new(
        "linux", GuestBoot.Kernel, null, "/images/linux/vmlinuz", "/images/linux/initrd.gz", "console=ttyS0 quiet panic=-1", 128, "kernel");

    [Fact]
    public void Build_IsAnArgumentListWithEveryValueSeparate()
    {
        var args = Build();

        Assert.All(args, a => Assert.False(string.IsNullOrWhiteSpace(a)));
        Assert.DoesNotContain(args, a => a.StartsWith('-') && a.Contains(' ', StringComparison.Ordinal));
        Assert.DoesNotContain(args, a => a.Contains('\n', StringComparison.Ordinal));
        Assert.Equal("-name", args[0]);
    }

    [Fact]
    public void Build_StartsFromAnEmptyMachine()
    {
        var args = Build();

        Assert.Contains("-nodefaults", args);
        Assert.Contains("-no-user-config", args);
        Assert.Equal("none", ValueOf(args, "-display"));
        Assert.Equal("pc", ValueOf(args, "-machine"));
    }

    [Theory]
    [InlineData(true, "kvm", "host")]
    [InlineData(false, "tcg", "max")]
    public void Build_ChoosesAcceleratorAndCpuModelTogether(bool kvm, string accel, string cpu)
    {
        var args = Build(accelerator: kvm ? Kvm : Tcg);

        Assert.Equal(accel, ValueOf(args, "-accel"));
        Assert.Equal(cpu, ValueOf(args, "-cpu"));
    }

    [Theory]
    [InlineData(1, 16, "1", "16M")]
    [InlineData(2, 256, "2", "256M")]
    [InlineData(256, 1024 * 1024, "256", "1048576M")]
    public void Build_SizesTheMachine(int vcpus, int memoryMiB, string smp, string memory)
    {
        var args = Build(Spec with { VCpus = vcpus, MemoryMiB = memoryMiB });

        Assert.Equal(smp, ValueOf(args, "-smp"));
        Assert.Equal(memory, ValueOf(args, "-m"));
    }

    [Fact]
    public void Build_NamesTheGuestAndItsInstance()
    {
        var args = Build();

        Assert.Equal("guest=web-1,debug-threads=on", ValueOf(args, "-name"));
        Assert.Equal("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01", ValueOf(args, "-uuid"));
    }

    [Fact]
    public void Build_BootsADiskImageReadOnlyWithoutKernel()
    {
        var args = Build(image: Tiny);

        var drive = QemuOption.Parse(ValueOf(args, "-drive"));
        Assert.Equal("/images/tiny/tiny.img", drive["file"]);
        Assert.Equal("raw", drive["format"]);
        Assert.Equal("on", drive["readonly"]);
        Assert.DoesNotContain("-kernel", args);
        Assert.DoesNotContain("-initrd", args);
        Assert.DoesNotContain("-append", args);
    }

    [Fact]
    public void Build_BootsAKernelDirectlyWithItsCommandLineAsOneArgument()
    {
        var args = Build(image: Linux);

        Assert.Equal("/images/linux/vmlinuz", ValueOf(args, "-kernel"));
        Assert.Equal("/images/linux/initrd.gz", ValueOf(args, "-initrd"));
        Assert.Equal("console=ttyS0 quiet panic=-1", ValueOf(args, "-append"));
        Assert.DoesNotContain("-drive", args);
    }

    [Fact]
    public void Build_LeavesOutAbsentInitrdAndCommandLine()
    {
        var args = Build(image: Linux with { Initrd = null, KernelCommandLine = "" });

        Assert.Equal("/images/linux/vmlinuz", ValueOf(args, "-kernel"));
        Assert.DoesNotContain("-initrd", args);
        Assert.DoesNotContain("-append", args);
    }

    [Fact]
    public void Build_KeepsPidFileAndSocketsUnderTheDataDirectory()
    {
        var paths = VmPaths.For(DataDirectory, "web-1");
        var args = Build(paths: paths);

        Assert.Matches("^/srv/fabric/run/[0-9a-f]{12}/qemu.pid$", ValueOf(args, "-pidfile"));
        Assert.DoesNotContain("-daemonize", args);
        Assert.Equal("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", ValueOf(args, "-sandbox"));

        var chardevs = ValuesOf(args, "-chardev").Select(QemuOption.Parse).ToDictionary(c => c["id"]);
        Assert.Equal(["console", "qmp"], chardevs.Keys.Order());
        Assert.All(chardevs.Values, c => Assert.True(c.ContainsKey("socket")));
        Assert.All(chardevs.Values, c => Assert.Equal("on", c["server"]));
        Assert.All(chardevs.Values, c => Assert.Equal("off", c["wait"]));
        Assert.Equal(paths.QmpSocket, chardevs["qmp"]["path"]);
        Assert.Equal(paths.ConsoleSocket, chardevs["console"]["path"]);
        Assert.Equal(paths.ConsoleLog, chardevs["console"]["logfile"]);
        Assert.StartsWith("/srv/fabric/run/", paths.QmpSocket, StringComparison.Ordinal);

        Assert.Equal("chardev=qmp,mode=control", ValueOf(args, "-mon"));
        Assert.Equal("chardev:console", ValueOf(args, "-serial"));
    }

    [Fact]
    public void Build_AppendsToTheConsoleLogSoTheDriverCanRotateIt()
    {
        // logappend=on makes QEMU open the log with O_APPEND: after the driver truncates it, QEMU writes at offset 0
        // again instead of leaving a hole. The driver itself starts each process with no log (ConsoleLog.StartFresh).
        var chardevs = ValuesOf(Build(), "-chardev").Select(QemuOption.Parse).ToDictionary(c => c["id"]);

        Assert.Equal("on", chardevs["console"]["logappend"]);
    }

    [Fact]
    public void Build_EscapesCommasInsideOptionsSoAPathCannotAddOptions()
    {
        var paths = VmPaths.For("/srv/fab,id=evil,server=off", "web-1");
        var args = Build(image: Tiny with { Disk = "/images/a,format=qcow2/tiny.img" }, paths: paths);

        var chardevs = ValuesOf(args, "-chardev").Select(QemuOption.Parse).ToDictionary(c => c["id"]);
        Assert.Equal(paths.QmpSocket, chardevs["qmp"]["path"]);
        Assert.Equal("on", chardevs["qmp"]["server"]);
        Assert.Equal(paths.ConsoleLog, chardevs["console"]["logfile"]);
        var drive = QemuOption.Parse(ValueOf(args, "-drive"));
        Assert.Equal("/images/a,format=qcow2/tiny.img", drive["file"]);
        Assert.Equal("raw", drive["format"]);

        // Plain-path options are not option strings: they are passed verbatim.
        Assert.Equal(paths.PidFile, ValueOf(args, "-pidfile"));
    }

    [Fact]
    public void Build_PassesKernelPathsVerbatim()
    {
        var args = Build(image: Linux with { Kernel = "/images/a,b/vmlinuz" });

        Assert.Equal("/images/a,b/vmlinuz", ValueOf(args, "-kernel"));
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("a,b")]
    [InlineData("web,debug-threads=off")]
    [InlineData("a b")]
    [InlineData("Web")]
    [InlineData("web\n")]
    [InlineData("-web")]
    [InlineData("")]
    public void Build_RefusesAHostileVmName(string vm)
    {
        var error = Assert.Throws<HypervisorException>(() => Build(Spec with { Vm = vm }));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void Escape_DoublesEveryComma()
    {
        Assert.Equal("a,,b,,,,c", QemuCommandLine.Escape("a,b,,c"));
        Assert.Equal("plain", QemuCommandLine.Escape("plain"));
    }

    private static IReadOnlyList<string> Build(LaunchSpec? spec = null, GuestImage? image = null, AcceleratorChoice? accelerator = null, VmPaths? paths = null) =>
        QemuCommandLine.Build(spec ?? Spec, image ?? Tiny, accelerator ?? Tcg, paths ?? VmPaths.For(DataDirectory, "web-1"));

    private static string ValueOf(IReadOnlyList<string> args, string flag) => Assert.Single(ValuesOf(args, flag));

    private static List<string> ValuesOf(IReadOnlyList<string> args, string flag)
    {
        var values = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == flag)
            {
                Assert.True(i + 1 < args.Count, $"{flag} has no value");
                values.Add(args[i + 1]);
            }
        }

        return values;
    }
}
