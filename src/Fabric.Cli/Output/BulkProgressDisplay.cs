using Fabric.Client;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>A progress bar on stderr while a bulk operation runs, when stderr is a terminal; nothing otherwise.</summary>
internal static class BulkProgressDisplay
{
    public static async Task<T> RunAsync<T>(CliIo io, string label, Func<IProgress<BulkProgress>?, Task<T>> operation)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(operation);
        if (!io.ErrorIsTerminal)
        {
            return await operation(null);
        }

        var console = Consoles.ForProgress(io.Error);
        return await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(label), autoStart: true, maxValue: 1);
                return await operation(new TaskProgress(task, label));
            });
    }

    /// <summary>
    /// Reports straight to the Spectre task (not through <see cref="Progress{T}"/>, which posts to the thread pool and can
    /// reorder reports); the bar only moves forward.
    /// </summary>
    private sealed class TaskProgress(ProgressTask task, string label) : IProgress<BulkProgress>
    {
        private readonly Lock _gate = new();

        public void Report(BulkProgress value)
        {
            lock (_gate)
            {
                task.MaxValue = Math.Max(1, value.Total);
                if (value.Done < task.Value)
                {
                    return;
                }

                task.Value = value.Done;
                task.Description = Markup.Escape(value.Failed > 0 ? $"{label} ({value.Done}/{value.Total}, {value.Failed} failed)" : $"{label} ({value.Done}/{value.Total})");
            }
        }
    }
}
