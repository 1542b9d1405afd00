using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Snapshots as people read them.</summary>
internal static class SnapshotOutput
{
    public static void Details(IAnsiConsole console, SnapshotInfo snapshot)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(snapshot);
        var grid = Cells.Details();
        grid.Row("VM", snapshot.Vm);
        grid.Row("Snapshot", snapshot.Name);
        grid.Row("Host", snapshot.Host);
        grid.Row("Guest pause", Pause(snapshot));
        grid.Row("Size", Sizes.FormatBytes(snapshot.SizeBytes));
        grid.Row("Time", Ms(snapshot.TotalMs));
        grid.Row("Guest", GuestState(snapshot));
        grid.Row("Memory", Cells.Memory(snapshot.MemoryMiB));
        grid.Row("Method", snapshot.Method);
        grid.Row("Created", Cells.Time(snapshot.CreatedAt));
        console.Write(grid);
    }

    public static void List(IAnsiConsole console, IReadOnlyList<SnapshotInfo> snapshots)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(snapshots);
        var table = Cells.Table("NAME", "HOST", "CREATED", "SIZE", "GUEST PAUSE", "TIME", "GUEST", "MEMORY");
        foreach (var snapshot in snapshots)
        {
            table.AddRow(
                Cells.Of(snapshot.Name),
                Cells.Of(snapshot.Host),
                Cells.Of(Cells.Time(snapshot.CreatedAt)),
                Cells.Of(Sizes.FormatBytes(snapshot.SizeBytes)),
                Cells.Of(Pause(snapshot)),
                Cells.Of(Ms(snapshot.TotalMs)),
                Cells.Of(GuestState(snapshot)),
                Cells.Of(Cells.Memory(snapshot.MemoryMiB)));
        }

        console.Write(table);
    }

    public static void Restored(IAnsiConsole console, VmInfo vm, string snapshot, TimeSpan took)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(vm);
        var grid = Cells.Details();
        grid.Row("VM", vm.Name);
        grid.Row("Snapshot", snapshot);
        grid.Row("State", vm.State.ToString());
        grid.Row("Reason", vm.Reason);
        grid.Row("Waiting", vm.Waiting);
        grid.Row("Host", vm.Host);
        grid.Row("Instance", vm.InstanceId?.ToString());
        grid.Row("Pid", vm.Pid?.ToString(CultureInfo.InvariantCulture));
        grid.Row("Time", Ms((long)took.TotalMilliseconds));
        console.Write(grid);
    }

    /// <summary>A paused guest stood still anyway: it had no pause to suffer.</summary>
    private static string Pause(SnapshotInfo snapshot) =>
        snapshot.GuestPauseMs is { } ms ? Ms(ms) : snapshot.WasRunning ? "unknown" : "none (paused)";

    private static string GuestState(SnapshotInfo snapshot) => snapshot.WasRunning ? "running" : "paused";

    private static string Ms(long ms) => $"{ms.ToString(CultureInfo.InvariantCulture)} ms";
}
