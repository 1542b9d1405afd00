using System.Text.Json.Nodes;
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
        Assert.Equal("q35", ValueOf(args, "-machine"));
        Assert.DoesNotContain("-drive", args);
        Assert.DoesNotContain(args, a => a.Contains("floppy", StringComparison.Ordinal) || a.Contains("isa-fdc", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_GivesEveryHotPluggableSlotItsOwnRootPortWhateverTheVmHolds()
    {
        var ports = ValuesOf(Build(), "-device").Where(d => d.StartsWith(PcieRootPorts.Driver + ",", StringComparison.Ordinal)).Select(QemuOption.Parse).ToList();
        Dictionary<string, string>[] ends = [ports[0], ports[7], ports[8], ports[^1]];

        Assert.Equal(NicSpec.MaxNics + DiskSpec.MaxDisks, ports.Count);
        Assert.Equal(["port-n0", "port-n7", "port-d0", "port-d15"], ends.Select(p => p["id"]));
        Assert.Equal(["8", "15", "16", "31"], ends.Select(p => p["slot"]));
        Assert.Equal(["0x2.0", "0x2.7", "0x3.0", "0x4.7"], ends.Select(p => p["addr"]));
        Assert.All(ports, p => Assert.Equal("pcie.0", p["bus"]));
        Assert.All(ports, p => Assert.Equal("1", p["chassis"]));
        Assert.Equal(ports.Count, ports.Select(p => p["slot"]).Distinct().Count());
        Assert.Equal(ports.Count, ports.Select(p => p["addr"]).Distinct().Count());

        // Function 0 of each device number announces the others.
        Assert.Equal(["0x2.0", "0x3.0", "0x4.0"], ports.Where(p => p.ContainsKey("multifunction")).Select(p => p["addr"]));
        Assert.Equal(ports.Select(p => p["id"]), ValuesOf(Build(image: Linux), "-device").Select(QemuOption.Parse).Select(p => p["id"]));
    }

    [Fact]
    public void Build_BoundsTheTcgTranslationCache()
    {
        Assert.Equal("tcg,tb-size=64", ValueOf(Build(accelerator: Tcg), "-accel"));
        Assert.Equal("kvm", ValueOf(Build(accelerator: Kvm), "-accel"));
    }

    [Theory]
    [InlineData(true, "kvm", "host")]
    [InlineData(false, "tcg,tb-size=64", "max")]
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
        var args = Build(Spec with { VCpus = vcpus, MemoryMiB = memoryMiB }, accelerator: Kvm);

        Assert.Equal(smp, ValueOf(args, "-smp"));
        Assert.Equal(memory, ValueOf(args, "-m"));
    }

    [Theory]
    [InlineData(16, "16392K")]
    [InlineData(256, "262152K")]
    [InlineData(1024 * 1024, "1073741832K")]
    public void Build_UnderTcg_GivesTheRamBlockASizeQemu72SyncsPageByPage(int memoryMiB, string memory)
    {
        var args = Build(Spec with { MemoryMiB = memoryMiB }, accelerator: Tcg);

        Assert.Equal(memory, ValueOf(args, "-m"));
    }

    [Fact]
    public void Build_UnderTcg_NoGuestSizeGivesARamBlockOf64WholePages()
    {
        // QEMU 7.2 takes its TLB-blind dirty-bitmap fast path for blocks that are a multiple of 64 pages of 4 KiB
        // (256 KiB); QEMU rounds -m to 8 KiB, so the size must be one it keeps as it is.
        foreach (var memoryMiB in Enumerable.Range(1, 4096))
        {
            var option = ValueOf(Build(Spec with { MemoryMiB = memoryMiB }, accelerator: Tcg), "-m");
            var kib = long.Parse(option.TrimEnd('K'), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(option.EndsWith('K') && kib % 256 != 0 && kib % 8 == 0, $"{memoryMiB} MiB gives -m {option}");
        }
    }

    [Fact]
    public void Build_NamesTheGuestAndItsInstance()
    {
        var args = Build();

        Assert.Equal("guest=web-1,debug-threads=on", ValueOf(args, "-name"));
        Assert.Equal("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01", ValueOf(args, "-uuid"));
    }

    [Fact]
    public void Build_BootsADiskImageFromAReadOnlyVirtioDiskWithoutKernel()
    {
        var args = Build(image: Tiny);

        Assert.Equal(
            """{"node-name":"boot","driver":"raw","read-only":true,"file":{"driver":"file","filename":"/images/tiny/tiny.img","read-only":true}}""",
            ValueOf(args, "-blockdev"));
        var device = QemuOption.Parse(Assert.Single(ValuesOf(args, "-device"), d => d.StartsWith("virtio-blk-pci,", StringComparison.Ordinal)));
        Assert.Equal("boot", device["drive"]);
        Assert.Equal("pcie.0", device["bus"]);
        Assert.Equal("0x1", device["addr"]);
        Assert.Equal("0", device["bootindex"]);
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
        Assert.DoesNotContain("-blockdev", args);
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
        Assert.True(chardevs["qmp"].ContainsKey("socket"));
        Assert.Equal(("on", "off", paths.QmpSocket), (chardevs["qmp"]["server"], chardevs["qmp"]["wait"], chardevs["qmp"]["path"]));

        // The console is a pseudo-terminal, not a socket (a socket made QEMU 7.2 log bytes twice), logged by QEMU itself.
        Assert.True(chardevs["console"].ContainsKey("pty"));
        Assert.Equal((paths.ConsoleLog, "on"), (chardevs["console"]["logfile"], chardevs["console"]["logappend"]));
        Assert.False(chardevs["console"].ContainsKey("path"));
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
        var node = JsonNode.Parse(ValueOf(args, "-blockdev"))!;
        Assert.Equal("/images/a,format=qcow2/tiny.img", (string?)node["file"]!["filename"]);

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
