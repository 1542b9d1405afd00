using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

internal static class HostOutput
{
    public static void List(IAnsiConsole console, IReadOnlyList<HostInfo> hosts)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(hosts);
        var table = Cells.Table("NAME", "STATE", "ADDRESS", "MACHINE", "VMS", "VCPU(alloc/cap)", "MEMORY(alloc/cap)", "DRIVER", "ACCEL", "LABELS");
        foreach (var host in hosts)
        {
            table.AddRow(
                Cells.Of(host.Name),
                Cells.Of(host.State.ToString()),
                Cells.Of(host.Address),
                Cells.Of(ShortMachine(host.Machine)),
                Cells.Of(host.VmCount),
                Cells.Of($"{host.Allocated.VCpus}/{host.Capacity.VCpus}"),
                Cells.Of($"{Cells.Memory(host.Allocated.MemoryMiB)}/{Cells.Memory(host.Capacity.MemoryMiB)}"),
                Cells.Of(host.Driver),
                Cells.Of(host.Accelerator),
                Cells.Of(Cells.Labels(host.Labels)));
        }

        console.Write(table);
    }

    public static void Details(IAnsiConsole console, HostInfo host)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(host);
        var grid = Cells.Details();
        grid.Row("Name", host.Name);
        grid.Row("State", host.State.ToString());
        grid.Row("Silo", host.Silo);
        grid.Row("Address", host.Address);
        grid.Row("Machine", host.Machine);
        grid.Row("Driver", host.Driver);
        grid.Row("Hypervisor", host.HypervisorVersion);
        grid.Row("Accelerator", string.IsNullOrEmpty(host.AcceleratorReason) ? host.Accelerator : $"{host.Accelerator} ({host.AcceleratorReason})");
        grid.Row("Capacity", Describe(host.Capacity));
        grid.Row("Allocated", host.AllocatedOverheadMiB == 0 ? Describe(host.Allocated) : $"{Describe(host.Allocated)} (memory includes {Cells.Memory(host.AllocatedOverheadMiB)} of hypervisor overhead)");
        grid.Row("Overhead", string.Create(CultureInfo.InvariantCulture, $"{host.MemoryOverhead.BaseMiB} MiB + {host.MemoryOverhead.PerVCpuMiB} MiB per vCPU + {host.MemoryOverhead.PerGiBMiB} MiB per GiB of RAM, per VM"));
        grid.Row("Free", Describe(host.Free));
        grid.Row("Physical", Describe(host.Physical));
        grid.Row("Overcommit", string.Create(CultureInfo.InvariantCulture, $"cpu {host.CpuOvercommit:0.##}x, memory {host.MemoryOvercommit:0.##}x"));
        grid.Row("Labels", Cells.Labels(host.Labels));
        grid.Row("Images", Cells.List(host.Images));
        grid.Row("VMs", host.Vms.IsDefaultOrEmpty ? host.VmCount.ToString(CultureInfo.InvariantCulture) : $"{host.Vms.Length}: {Cells.List(host.Vms)}");
        grid.Row("Anti-affinity", Cells.List(host.AntiAffinityGroups));
        grid.Row("Affinity", Cells.List(host.AffinityGroups));
        grid.Row("Networks", host.Networking ? NetworkOutput.HostNetworks(host.Networks) : "cannot realize virtual networks (its silo shares a network namespace)");
        grid.Row("Reported", Cells.Time(host.ReportedAt));
        grid.Row("Sequence", host.Sequence.ToString());
        console.Write(grid);
        if (host.Unmanaged.IsDefaultOrEmpty)
        {
            return;
        }

        console.WriteLine();
        console.WriteLine("Unmanaged QEMU processes (no record places them here; left alone, and their VM names are refused until they end):");
        var table = Cells.Table("VM", "PID", "EPOCH", "INSTANCE");
        foreach (var process in host.Unmanaged)
        {
            table.AddRow(Cells.Of(process.Vm), Cells.Of(process.Pid?.ToString(CultureInfo.InvariantCulture)), Cells.Of(process.Epoch.ToString(CultureInfo.InvariantCulture)), Cells.Of(process.InstanceId.ToString()));
        }

        console.Write(table);
    }

    /// <summary>The one line a host command that changes state prints: <c>host/NAME Cordoned</c>.</summary>
    public static void Changed(IAnsiConsole console, HostInfo host)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(host);
        console.WriteLine($"host/{host.Name} {host.State}");
    }

    /// <summary>Machine ids are long (32 hex digits): a table shows their first 12 characters, <c>host get</c> all of them.</summary>
    private static string ShortMachine(string machine) => machine.Length > 12 ? machine[..12] : machine;

    private static string Describe(Resources resources) =>
        $"{resources.VCpus} vCPU, {Cells.Memory(resources.MemoryMiB)}";
}
