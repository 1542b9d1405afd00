using System.Diagnostics;
using System.Globalization;
using Fabric.Hypervisor.Linux;
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

    private readonly Lock _gate = new();
    private readonly Task _events;
    private DateTimeOffset? _stoppedAt;
    private DateTimeOffset? _resumedAt;

    private DirectQemu(int pid, QmpClient qmp, VmPaths paths)
    {
        Pid = pid;
        Qmp = qmp;
        Paths = paths;
        _events = Task.Run(RecordEventsAsync);
    }

    public int Pid { get; }

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
    /// migration target launch does. Returns once QEMU has daemonized and its monitor answers.
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
        var startInfo = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in argv)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using (var launcher = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start"))
        {
            var error = launcher.StandardError.ReadToEndAsync();
            await launcher.WaitForExitAsync();
            if (launcher.ExitCode != 0)
            {
                throw new InvalidOperationException($"direct QEMU on {hostId} failed (exit {launcher.ExitCode}): {(await error).Trim()}");
            }
        }

        var pid = int.Parse(File.ReadAllText(paths.PidFile).Trim(), CultureInfo.InvariantCulture);
        try
        {
            var qmp = await QmpClient.ConnectAsync(paths.QmpSocket);
            return new DirectQemu(pid, qmp, paths);
        }
        catch
        {
            await Processes.KillAndReapAsync(pid, ExitTimeout);
            throw;
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
        var deadline = Stopwatch.StartNew();
        while (Processes.IsAlive(Pid) && deadline.Elapsed < ExitTimeout)
        {
            await Task.Delay(10);
        }

        if (Processes.IsAlive(Pid))
        {
            await Processes.KillAndReapAsync(Pid, ExitTimeout);
        }

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
