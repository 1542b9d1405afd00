using System.Globalization;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Migrations and drains as people read them.</summary>
internal static class MigrationOutput
{
    public static void Result(IAnsiConsole console, MigrationInfo info)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(info);
        var grid = Cells.Details();
        grid.Row("VM", info.Vm);
        grid.Row("Migration", info.Id);
        grid.Row("Phase", info.Phase.ToString());
        grid.Row("From", info.From);
        grid.Row("To", info.To);
        grid.Row("Reason", info.Reason);
        grid.Row("Total", $"{info.TotalMs} ms");
        grid.Row("Downtime (QEMU)", Ms(info.DowntimeMs));
        grid.Row("Guest pause", Ms(info.GuestPauseMs));
        grid.Row("Encrypted", info.Encrypted switch { true => "yes (TLS, fabric CA)", false => "no", null => "not yet known" });
        grid.Row("Transferred", Sizes.FormatBytes(info.TransferredBytes));
        grid.Row("Passes", info.Passes.ToString(CultureInfo.InvariantCulture));
        if (info.Postcopy)
        {
            grid.Row("Post-copy", "yes");
        }

        console.Write(grid);
    }

    /// <summary>One line of progress: phase, pass, sent of total, rates.</summary>
    public static string Progress(MigrationInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var target = info.To is null ? "" : $" → {info.To}";
        if (info.Phase != MigrationPhase.Transferring)
        {
            return $"{info.Phase}{target}{(info.Reason is { } why && !info.IsFinished ? $": {why}" : "")}";
        }

        var throttle = info.ThrottlePercent > 0 ? $", throttled {info.ThrottlePercent}%" : "";
        return $"Transferring{target}: pass {info.Passes}, {Sizes.FormatBytes(info.TransferredBytes)} sent, {Sizes.FormatBytes(info.RemainingBytes)} left, " +
            $"{Sizes.FormatBytes(info.BytesPerSecond)}/s, dirtied {Sizes.FormatBytes(info.DirtyBytesPerSecond)}/s{throttle}";
    }

    public static void Drain(IAnsiConsole console, string host, IReadOnlyList<DrainResult> results)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(results);
        var table = Cells.Table("VM", "RESULT", "TO", "TOTAL", "GUEST PAUSE", "REASON");
        foreach (var result in results)
        {
            table.AddRow(
                Cells.Of(result.Vm),
                Cells.Of(result.Moved ? "moved" : "left"),
                Cells.Of(result.Migration?.To),
                Cells.Of(result.Migration is { } m ? $"{m.TotalMs} ms" : null),
                Cells.Of(Ms(result.Migration?.GuestPauseMs)),
                Cells.Of(result.Reason));
        }

        console.Write(table);
        var left = results.Count(r => !r.Moved);
        console.WriteLine(left == 0
            ? $"Host {host} is drained: {results.Count} VM(s) moved; it stays cordoned ('host uncordon {host}' returns it)."
            : $"Host {host}: {results.Count - left} VM(s) moved, {left} left on it; it stays cordoned.");
    }

    private static string? Ms(long? ms) => ms is { } value ? $"{value} ms" : null;
}

/// <summary>A progress bar on stderr while a migration runs, when stderr is a terminal; nothing otherwise.</summary>
internal static class MigrationProgressDisplay
{
    public static async Task<MigrationInfo> RunAsync(CliIo io, string label, Func<IProgress<MigrationInfo>?, Task<MigrationInfo>> operation)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(operation);
        if (!io.ErrorIsTerminal)
        {
            return await operation(null);
        }

        return await Consoles.ForProgress(io.Error).Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(label), autoStart: true, maxValue: 1);
                return await operation(new Reporter(task, label));
            });
    }

    /// <summary>The bar is the share of memory sent in the current pass; the text says the rest.</summary>
    private sealed class Reporter(ProgressTask task, string label) : IProgress<MigrationInfo>
    {
        private readonly Lock _gate = new();

        public void Report(MigrationInfo value)
        {
            lock (_gate)
            {
                var total = Math.Max(1, value.TotalBytes);
                task.MaxValue = 1;
                task.Value = value.IsFinished ? 1 : Math.Clamp(1 - (double)value.RemainingBytes / total, 0, 1);
                task.Description = Markup.Escape($"{label}: {MigrationOutput.Progress(value)}");
            }
        }
    }
}
