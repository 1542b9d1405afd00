using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

internal static class VmOutput
{
    public static void List(IAnsiConsole console, IReadOnlyList<VmInfo> vms)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(vms);
        var table = Cells.Table("NAME", "STATE", "HOST", "PROJECT", "VCPU", "MEMORY", "IMAGE", "LABELS");
        foreach (var vm in vms)
        {
            table.AddRow(
                Cells.Of(vm.Name),
                Cells.Of(Cells.VmState(vm)),
                Cells.Of(vm.Host),
                Cells.Of(vm.Project),
                Cells.Of(vm.VCpus),
                Cells.Of(Cells.Memory(vm.MemoryMiB)),
                Cells.Of(vm.Image),
                Cells.Of(Cells.Labels(vm.Labels)));
        }

        console.Write(table);
    }

    public static void Details(IAnsiConsole console, VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(vm);
        var grid = Cells.Details();
        grid.Row("Name", vm.Name);
        grid.Row("Project", vm.Project);
        grid.Row("State", vm.State.ToString());
        grid.Row("Reason", vm.Reason);
        grid.Row("Waiting", vm.Waiting);
        grid.Row("Since", Cells.Time(vm.Since));
        grid.Row("Host", vm.Host.Length > 0 ? vm.Host : "(none: placed when started)");
        grid.Row("Epoch", vm.Epoch.ToString(CultureInfo.InvariantCulture));
        grid.Row("Reachable", vm.Reachable ? "yes" : "no (its host is down)");
        grid.Row("vCPUs", vm.VCpus.ToString(CultureInfo.InvariantCulture));
        grid.Row("Memory", Cells.Memory(vm.MemoryMiB));
        grid.Row("Image", vm.Image);
        grid.Row("Labels", Cells.Labels(vm.Labels));
        grid.Row("Disks", StorageOutput.Disks(vm.Disks));
        grid.Row("NICs", NetworkOutput.Nics(vm.Nics));
        grid.Row("Placement", Describe(vm.Placement));
        grid.Row("Pid", vm.Pid?.ToString(CultureInfo.InvariantCulture));
        grid.Row("Instance", vm.InstanceId?.ToString());
        grid.Row("Created", Cells.Time(vm.CreatedAt));
        console.Write(grid);

        if (vm.History.IsDefaultOrEmpty)
        {
            return;
        }

        console.WriteLine();
        console.WriteLine("History:");
        var history = Cells.Table("AT", "FROM", "TO", "REASON");
        foreach (var entry in vm.History)
        {
            history.AddRow(Cells.Of(Cells.Time(entry.At)), Cells.Of(entry.From.ToString()), Cells.Of(entry.To.ToString()), Cells.Of(entry.Reason));
        }

        console.Write(history);
    }

    /// <summary>The one line a lifecycle command prints: <c>vm/NAME Running on host-a</c>.</summary>
    public static void Changed(IAnsiConsole console, VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(vm);
        var reason = string.IsNullOrEmpty(vm.Reason) ? "" : $" ({vm.Reason})";
        var where = vm.Host.Length > 0 ? $" on {vm.Host}" : "";
        console.WriteLine($"vm/{vm.Name} {Cells.VmState(vm)}{where}{reason}");
    }

    public static void Deleted(IAnsiConsole console, string name)
    {
        ArgumentNullException.ThrowIfNull(console);
        console.WriteLine($"vm/{name} deleted");
    }

    /// <summary>What <c>vm delete -o json</c> prints: the VM's name and its final state.</summary>
    public static DeletedVm DeletedJson(string name) => new(name, VmState.Deleted);

    private static string Describe(VmPlacement placement)
    {
        var parts = new List<string>();
        if (placement.Host is not null)
        {
            parts.Add($"host={placement.Host}");
        }

        if (placement.Policy != PlacementPolicy.Default)
        {
            parts.Add($"policy={placement.Policy.ToString().ToLowerInvariant()}");
        }

        if (placement.AntiAffinityGroup is not null)
        {
            parts.Add($"anti-affinity={placement.AntiAffinityGroup}");
        }

        if (placement.AffinityGroup is not null)
        {
            parts.Add($"affinity={placement.AffinityGroup}");
        }

        if (placement.HostSelector.Count > 0)
        {
            parts.Add($"host-selector={Cells.Labels(placement.HostSelector)}");
        }

        return Cells.List(parts);
    }
}
