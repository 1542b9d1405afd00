using System.Globalization;
using System.Text.Json.Nodes;
using Fabric.Hypervisor.Accel;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Builds a QEMU argument list (never a shell string) from a validated launch spec. The process runs in the foreground
/// under its launcher (<see cref="Confinement.QemuLauncher"/>), in QEMU's seccomp sandbox, leaving its pid in <see cref="VmPaths.PidFile"/>, its QMP monitor and serial console on UNIX sockets,
/// and everything the guest prints in <see cref="VmPaths.ConsoleLog"/> — whether or not anyone is connected. QEMU
/// appends to that log (<c>logappend=on</c> opens it with O_APPEND), so the driver can rotate it under the running
/// process (<see cref="ConsoleLog"/>); the driver deletes the previous process's log before a launch.
/// </summary>
public static class QemuCommandLine
{
    /// <summary>
    /// The TCG translation cache's size (<c>tb-size</c>, MiB). QEMU 7.2's default is 1 GiB, allocated as guest code is
    /// translated; a fixed cap bounds what a process can take beyond its guest's RAM (docs/hypervisor.md, Memory
    /// overhead). When full, QEMU flushes it and translates again.
    /// </summary>
    public const int TcgTranslationCacheMiB = 64;

    /// <summary>
    /// What TCG adds to the guest's RAM, in KiB (QEMU rounds <c>-m</c> to 8 KiB). QEMU 7.2 syncs a RAM block's migration
    /// dirty bitmap 64 pages at a time when the block is a multiple of 256 KiB, and that fast path forgets to reset the
    /// TCG TLB: stores through an entry made while the page was dirty are then never marked again, and a pre-copy (live
    /// migration, snapshot) loses them (fixed in QEMU 9.0, 03bfc2188f). A block 8 KiB off that size takes the page-at-a-
    /// time path, which resets the TLB (docs/hypervisor.md, Lost writes under TCG).
    /// </summary>
    public const int TcgRamPaddingKiB = 8;

    /// <summary>The boot disk's address on <c>pcie.0</c> (below the root ports, <see cref="PcieRootPorts"/>).</summary>
    public const string BootDiskAddress = "0x1";

    public static IReadOnlyList<string> Build(LaunchSpec spec, GuestImage image, AcceleratorChoice accelerator, VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(paths);
        VmPaths.EnsureSafeName(spec.Vm);

        var args = new List<string>
        {
            "-name", $"guest={spec.Vm},debug-threads=on",
            "-uuid", spec.InstanceId.ToString("D"),
            "-nodefaults",
            "-no-user-config",
            "-machine", "q35",
            "-accel", accelerator.IsKvm ? "kvm" : $"tcg,tb-size={TcgTranslationCacheMiB.ToString(CultureInfo.InvariantCulture)}",
            "-cpu", accelerator.IsKvm ? "host" : "max",
            "-smp", spec.VCpus.ToString(CultureInfo.InvariantCulture),
            "-m", MemoryOption(spec.MemoryMiB, accelerator),
            "-display", "none",
            "-chardev", $"pty,id=console,logfile={Escape(paths.ConsoleLog)},logappend=on",
            "-serial", "chardev:console",
            "-chardev", $"socket,id=qmp,path={Escape(paths.QmpSocket)},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-pidfile", paths.PidFile,
            "-msg", "timestamp=on",

            // QEMU's seccomp filter: no obsolete system calls, no setuid/setgid or capability changes, no fork/exec
            // (so no exec: migration, no scripts), no scheduler or CPU-affinity changes. Once set, it stays for life.
            "-sandbox", Sandbox,
        };

        if (spec.Incoming)
        {
            // Paused until told otherwise (-S), and waiting for a migration URI given over QMP (defer), so that the
            // listener is opened on the address and with the features the caller chooses.
            args.Add("-S");
            args.Add("-incoming");
            args.Add("defer");
        }

        foreach (var port in PcieRootPorts.DeviceOptions())
        {
            args.Add("-device");
            args.Add(port);
        }

        foreach (var disk in spec.Disks.OrderBy(d => d.Slot))
        {
            args.AddRange(DiskArguments(disk));
        }

        foreach (var nic in spec.Nics.OrderBy(n => n.Slot))
        {
            args.AddRange(NicArguments(nic));
        }

        switch (image.Boot)
        {
            case GuestBoot.Disk:
                args.AddRange(BootDiskArguments(image.Disk!));
                break;
            case GuestBoot.Kernel:
                args.Add("-kernel");
                args.Add(image.Kernel!);
                if (image.Initrd is not null)
                {
                    args.Add("-initrd");
                    args.Add(image.Initrd);
                }

                if (!string.IsNullOrEmpty(image.KernelCommandLine))
                {
                    args.Add("-append");
                    args.Add(image.KernelCommandLine);
                }

                break;
        }

        return args;
    }

    /// <summary>The guest's RAM as <c>-m</c> gives it: its MiB under KVM, and <see cref="TcgRamPaddingKiB"/> more under TCG.</summary>
    private static string MemoryOption(int memoryMiB, AcceleratorChoice accelerator) =>
        accelerator.IsKvm
            ? $"{memoryMiB.ToString(CultureInfo.InvariantCulture)}M"
            : $"{((long)memoryMiB * 1024 + TcgRamPaddingKiB).ToString(CultureInfo.InvariantCulture)}K";

    /// <summary>
    /// A disk image's boot disk: read-only virtio-blk on <c>pcie.0</c>, first in SeaBIOS's boot order. q35 has no floppy
    /// controller, and an IDE hard disk cannot be read-only in QEMU. Not hot-pluggable, so it needs no port.
    /// </summary>
    public static IEnumerable<string> BootDiskArguments(string image)
    {
        yield return "-blockdev";
        yield return new JsonObject
        {
            ["node-name"] = "boot",
            ["driver"] = "raw",
            ["read-only"] = true,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image, ["read-only"] = true },
        }.ToJsonString();
        yield return "-device";
        yield return $"virtio-blk-pci,id=boot-dev,drive=boot,bus=pcie.0,addr={BootDiskAddress},bootindex=0";
    }

    /// <summary>
    /// A disk as a <c>-blockdev</c> (JSON, so no path needs escaping; format given, never probed) and its virtio-blk
    /// device behind the slot's own root port; a hot-plug adds the same objects (<see cref="VirtioDisk"/>).
    /// </summary>
    public static IEnumerable<string> DiskArguments(DiskSpec disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        disk.EnsureValid();
        yield return "-blockdev";
        yield return VirtioDisk.Blockdev(disk).ToJsonString();
        yield return "-device";
        yield return VirtioDisk.DeviceOption(disk);
    }

    /// <summary>
    /// A NIC as a <c>-netdev</c> (JSON, as QEMU 7.1 and later accept it: the same object as QMP <c>netdev_add</c>) over
    /// its tap, and its virtio-net device behind the slot's own root port; a hot-plug adds the same objects
    /// (<see cref="VirtioNic"/>).
    /// </summary>
    public static IEnumerable<string> NicArguments(NicSpec nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        nic.EnsureValid();
        yield return "-netdev";
        yield return VirtioNic.Netdev(nic).ToJsonString();
        yield return "-device";
        yield return VirtioNic.DeviceOption(nic);
    }

    /// <summary>The <c>-sandbox</c> option every QEMU gets.</summary>
    public const string Sandbox = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

    /// <summary>Escapes a value inside a QEMU <c>key=value,…</c> option, where a literal comma is written twice.</summary>
    public static string Escape(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
