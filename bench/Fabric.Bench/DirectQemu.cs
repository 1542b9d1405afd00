using System.Diagnostics;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Qmp;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>
/// One QEMU process launched directly, not through the fabric (the baseline of <c>bench migrate</c>): the fabric's own
/// command line with its paths moved under another data directory, started in a host's network namespace (entered
/// with <c>nsenter</c>, as <c>underlay.sh exec</c> does, without the script around it) when there is an underlay, with a QMP connection of its own that notes when the guest's vCPUs last stopped and resumed
/// (QEMU's <c>STOP</c> and <c>RESUME</c> event times, the clock the fabric's guest pause is measured by too).
/// </summary>
internal sealed class DirectQemu : IAsyncDisposable
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LaunchTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly Task _events;
    private DateTimeOffset? _stoppedAt;
    private DateTimeOffset? _resumedAt;

    private readonly Process _process;

    private DirectQemu(Process process, QmpClient qmp, VmPaths paths)
    {
        _process = process;
        Qmp = qmp;
        Paths = paths;
        _events = Task.Run(RecordEventsAsync);
    }

    public int Pid => _process.Id;

    public QmpClient Qmp { get; }

    public VmPaths Paths { get; }

    /// <summary>When the guest's vCPUs last stopped (QMP <c>STOP</c>), by QEMU's clock.</summary>
    public DateTimeOffset? StoppedAt
    {
        get
        {
            lock (_gate)
            {
                return _stoppedAt;
            }
        }
    }

    /// <summary>When the guest's vCPUs last resumed (QMP <c>RESUME</c>), by QEMU's clock.</summary>
    public DateTimeOffset? ResumedAt
    {
        get
        {
            lock (_gate)
            {
                return _resumedAt;
            }
        }
    }

    /// <summary>
    /// Launches <paramref name="command"/> (a fabric QEMU's argument list, program first) with every path under
    /// <paramref name="fabricData"/> moved under <paramref name="data"/>, in <paramref name="hostId"/>'s namespace when
    /// <paramref name="underlay"/> is given (<see cref="InNamespace"/>); <paramref name="incoming"/> adds <c>-S -incoming defer</c>, as the fabric's
    /// migration target launch does. Returns once its monitor answers.
    /// </summary>
    public static async Task<DirectQemu> LaunchAsync(IReadOnlyList<string> command, string fabricData, string data, string vm, bool incoming, Underlay? underlay, string hostId)
    {
        var paths = VmPaths.For(data, vm);
        if (Directory.Exists(paths.Directory))
        {
            Directory.Delete(paths.Directory, recursive: true);
        }

        Directory.CreateDirectory(paths.Directory);
        Directory.CreateDirectory(Path.GetDirectoryName(paths.QmpSocket)!);
        File.Delete(paths.QmpSocket);

        var arguments = command.Skip(1).Select(a => a.Replace(fabricData, data, StringComparison.Ordinal)).ToList();
        if (incoming)
        {
            arguments.AddRange(["-S", "-incoming", "defer"]);
        }

        var (program, argv) = underlay is null ? (command[0], arguments) : InNamespace(underlay, hostId, command[0], arguments);
        var (process, qmp) = await StartAsync(program, argv, paths.QmpSocket);
        return new DirectQemu(process, qmp, paths);
    }

    /// <summary>
    /// Starts QEMU in the foreground, as a child of this process (the fabric's command line has no <c>-daemonize</c>:
    /// its launcher keeps QEMU under a fixed shell), and returns once its monitor accepts a connection, the point where
    /// the fabric's launch returns too.
    /// </summary>
    public static async Task<(Process Process, QmpClient Qmp)> StartAsync(string program, IEnumerable<string> arguments, string qmpSocket)
    {
        var startInfo = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                lock (errors)
                {
                    throw new InvalidOperationException($"direct QEMU exited with code {process.ExitCode}: {errors.ToString().Trim()}");
                }
            }

            try
            {
                return (process, await QmpClient.ConnectAsync(qmpSocket, TimeSpan.FromSeconds(5)));
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or QmpException && deadline.Elapsed < LaunchTimeout)
            {
                // Not there yet, or bound but not yet listening.
                await Task.Delay(1);
            }
        }
    }

    /// <summary>
    /// <paramref name="program"/> run in <paramref name="hostId"/>'s network namespace by <c>nsenter</c>, which execs it
    /// (the pid stays the program's): what <see cref="Underlay.Exec"/> ends in, without the shell script before it,
    /// which costs tens of milliseconds — the fabric's QEMU launch pays nothing of the kind (its silo already runs in the
    /// namespace).
    /// </summary>
    public static (string Program, IReadOnlyList<string> Arguments) InNamespace(Underlay underlay, string hostId, string program, IEnumerable<string> arguments) =>
        ("nsenter", [$"--net=/run/netns/{underlay.NamespaceOf(hostId)}", "--", program, .. arguments]);

    /// <summary>Waits (briefly) until a <c>RESUME</c> at or after <paramref name="after"/> has reached this connection.</summary>
    public async Task<DateTimeOffset?> WaitForResumeAsync(DateTimeOffset after)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(1))
        {
            if (ResumedAt is { } resumed && resumed >= after)
            {
                return resumed;
            }

            await Task.Delay(1);
        }

        return null;
    }

    /// <summary>Asks QEMU to quit; returns once it has answered (or closed the connection on its way out).</summary>
    public async Task QuitAsync()
    {
        try
        {
            await Qmp.ExecuteAsync("quit");
        }
        catch (QmpConnectionClosedException)
        {
            // QEMU went before its answer reached us: it is quitting all the same.
        }
    }

    /// <summary>Waits for the process to end (a quit sent earlier), kills it if it does not, and closes the monitor.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var exited = new CancellationTokenSource(ExitTimeout))
        {
            try
            {
                await _process.WaitForExitAsync(exited.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
        await Qmp.DisposeAsync();
        await _events;
    }

    private async Task RecordEventsAsync()
    {
        await foreach (var qmpEvent in Qmp.Events.ReadAllAsync())
        {
            lock (_gate)
            {
                switch (qmpEvent.Name)
                {
                    case "STOP":
                        _stoppedAt = qmpEvent.Timestamp;
                        break;
                    case "RESUME":
                        _resumedAt = qmpEvent.Timestamp;
                        break;
                }
            }
        }
    }
}
