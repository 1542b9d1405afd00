using System.Collections.Concurrent;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qmp;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// One QEMU process the driver watches: its QMP monitor (events and commands), its console link, and the stop
/// escalation. Its end is observed exactly once (by the monitor loop), recorded in <c>instance.json</c> and published.
/// </summary>
/// <remarks>
/// Threads: the monitor loop handles QMP events and the exit; lifecycle calls (pause, resume, reset, console input)
/// come from the owner; the stop sequence runs on its own. Status changes go through <see cref="_gate"/>, and an
/// ended status is final, so a command that races the exit can never bring a dead process back to life.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Its SemaphoreSlim and CancellationTokenSource never allocate a wait handle or timer, so there is nothing to release.")]
internal sealed partial class QemuVm
{
    private static readonly TimeSpan ExitPoll = TimeSpan.FromMilliseconds(20);
    /// <summary>How long a closed QMP connection may precede QEMU's exit before we take it for a dropped connection.</summary>
    private static readonly TimeSpan ExitAfterQmpClosed = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReapPatience = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Pids some monitor (of any driver in this process) watches and will reap itself, learning how the process
    /// ended; the zombie sweep after a launch must leave them alone.
    /// </summary>
    private static readonly ConcurrentDictionary<int, byte> Watched = new();

    private readonly QemuDriverOptions _options;
    private readonly ILogger _logger;
    private readonly Action<ProcessStatus> _publish;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _forceStop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _detach = new();
    private readonly AsyncPulse _reconnected = new();
    private readonly SemaphoreSlim _consoleLock = new(1, 1);
    private readonly Lock _gate = new();
    private readonly InstanceRecord _record;
    private ProcessStatus _status;
    private QmpClient? _qmp;
    private ConsoleLink? _console;
    private Task _monitor = Task.CompletedTask;
    private Task _consoleLogWatch = Task.CompletedTask;
    private string? _shutdownReason;
    private bool _detaching;
    private volatile bool _graceExpired;
    private volatile bool _killed;
    private int _stopRequested;
    private int _detached;

    /// <summary>1 while a process launched to receive a stream has not run its guest yet (see <see cref="TakePendingArrival"/>).</summary>
    private int _arrivalPending;

    private QemuVm(InstanceRecord record, int? pid, VmPaths paths, QemuDriverOptions options, ILogger logger, Action<ProcessStatus> publish, ProcessStatus status)
    {
        _record = record;
        Pid = pid;
        Paths = paths;
        _options = options;
        _logger = logger;
        _publish = publish;
        _status = status;
        ConsoleLog = new ConsoleLog(record.Vm, paths, new ConsoleLogLimit(options.ConsoleLogLimitBytes), logger);
    }

    public string Name => _record.Vm;

    public Guid InstanceId => _record.InstanceId;

    /// <summary>The uid the process runs as (null for a process launched before confinement).</summary>
    public int? Uid => _record.Uid;

    public int? Pid { get; }

    public VmPaths Paths { get; }

    /// <summary>Fires whenever the guest writes to its console (and when the process ends).</summary>
    public AsyncPulse ConsoleOutput { get; } = new();

    /// <summary>The process's console output on disk, kept within its limit while the process runs.</summary>
    public ConsoleLog ConsoleLog { get; }

    public Task Exited => _exited.Task;

    public ProcessStatus Status => Volatile.Read(ref _status);

    /// <summary>QEMU's time of the last <c>STOP</c> event this monitor saw (a migration's guest pause starts there).</summary>
    public DateTimeOffset? StoppedAt { get; private set; }

    /// <summary>QEMU's time of the last <c>RESUME</c> event this monitor saw.</summary>
    public DateTimeOffset? ResumedAt { get; private set; }

    /// <summary>The QEMU pids that monitors in this process watch right now.</summary>
    public static IReadOnlyCollection<int> WatchedPids => [.. Watched.Keys];

    /// <summary>Connects to a live process: QMP first (its state), then the console.</summary>
    public static async Task<QemuVm> AttachAsync(InstanceRecord record, int pid, VmPaths paths, QemuDriverOptions options, ILogger logger, Action<ProcessStatus> publish, CancellationToken cancellationToken)
    {
        var qmp = await QmpClient.ConnectAsync(paths.QmpSocket, options.QmpTimeout, cancellationToken).ConfigureAwait(false);
        QemuVm vm;
        try
        {
            var (power, reason) = await QueryPowerAsync(qmp, cancellationToken).ConfigureAwait(false);
            vm = new QemuVm(record, pid, paths, options, logger, publish, new ProcessStatus(record.Vm, record.Epoch, record.InstanceId, power, pid, reason))
            {
                _qmp = qmp,
                _arrivalPending = record.LaunchedIncoming && power != ProcessPower.Running ? 1 : 0,
            };
            try
            {
                vm._console = await ConsoleLink.ConnectAsync(qmp, record.Uid ?? 0, vm.ConsoleOutput, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                // The guest runs and QEMU logs its console regardless; typed input opens the terminal again (and says why it cannot).
                LogConsoleUnavailable(logger, record.Vm, ex.Message);
            }
        }
        catch
        {
            await qmp.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        Watched[pid] = 0;
        vm._monitor = Task.Run(vm.MonitorAsync, CancellationToken.None);
        vm._consoleLogWatch = Task.Run(() => vm.ConsoleLog.WatchAsync(vm.ConsoleOutput, () => vm.Status.IsAlive, vm._detach.Token), CancellationToken.None);
        return vm;
    }

    /// <summary>A process that has already ended (found so at re-attach).</summary>
    public static QemuVm Ended(InstanceRecord record, VmPaths paths, QemuDriverOptions options, ILogger logger, ExitRecord exit)
    {
        var status = new ProcessStatus(record.Vm, record.Epoch, record.InstanceId, exit.Power, null, exit.Reason);
        var vm = new QemuVm(record with { Exit = exit }, null, paths, options, logger, _ => { }, status);
        vm._exited.TrySetResult();

        // Its log may have grown past the limit while no driver watched; nothing writes to it any more.
        vm.ConsoleLog.TryKeepWithinLimit(stillOurs: () => true);
        return vm;
    }

    /// <summary>
    /// True once, at the first call after the guest of a process launched to receive a stream (a migration's target, a
    /// snapshot's restore) was resumed: the guest has arrived on this machine.
    /// </summary>
    public bool TakePendingArrival() => Interlocked.Exchange(ref _arrivalPending, 0) == 1;

    public async Task<ProcessStatus> ExecuteAsync(string command, ProcessPower? expected, CancellationToken cancellationToken)
    {
        await CommandAsync(command, arguments: null, cancellationToken).ConfigureAwait(false);
        if (expected is { } power)
        {
            Change(power, reason: null, publish: false);
        }

        return Status;
    }

    /// <summary>
    /// Runs a QMP command on the live process and returns its answer; a connection that dropped under a live QEMU is
    /// waited for once. QMP errors become <see cref="HypervisorException"/>s (<c>Conflict</c> once the process ended).
    /// </summary>
    public async Task<System.Text.Json.JsonElement> CommandAsync(string command, System.Text.Json.Nodes.JsonObject? arguments, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var reconnected = _reconnected.Next;
            var qmp = RequireAlive(command);
            try
            {
                // The arguments object is re-serialized on a retry, so hand each attempt its own copy.
                var copy = arguments?.DeepClone().AsObject();
                return await qmp.ExecuteAsync(command, copy, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (QmpConnectionClosedException) when (attempt == 1 && Status.IsAlive)
            {
                // The connection dropped under a live QEMU: the monitor loop reconnects; wait for that once, then retry.
                await WaitForReconnectAsync(reconnected, command, cancellationToken).ConfigureAwait(false);
            }
            catch (QmpException ex)
            {
                throw Status.IsAlive
                    ? new HypervisorException(HypervisorErrorKind.Failed, $"vm '{Name}': {ex.Message}", ex)
                    : new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{Name}': its process ended ({Status.Reason})", ex);
            }
        }
    }

    /// <summary>For tests: closes the QMP connection as a fault would, leaving QEMU running.</summary>
    public async Task DropMonitorConnectionAsync()
    {
        if (Volatile.Read(ref _qmp) is { } qmp)
        {
            await qmp.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts the stop escalation once; a forced request also cuts short a graceful one in progress.</summary>
    public void BeginStop(StopRequest request)
    {
        if (request.Force)
        {
            _forceStop.TrySetResult();
        }

        if (Interlocked.Exchange(ref _stopRequested, 1) == 0)
        {
            _ = Task.Run(() => StopSequenceAsync(request));
        }
    }

    public async Task SendConsoleAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var qmp = RequireAlive("console input");
        await _consoleLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_console is not { IsOpen: true })
            {
                if (_console is not null)
                {
                    await _console.DisposeAsync().ConfigureAwait(false);
                }

                _console = await ConsoleLink.ConnectAsync(qmp, _record.Uid ?? 0, ConsoleOutput, cancellationToken).ConfigureAwait(false);
            }

            await _console.SendAsync(data, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or ObjectDisposedException or QmpException)
        {
            throw Status.IsAlive
                ? new HypervisorException(HypervisorErrorKind.Failed, $"vm '{Name}': console input failed: {ex.Message}", ex)
                : new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{Name}': its process ended ({Status.Reason})", ex);
        }
        finally
        {
            _consoleLock.Release();
        }
    }

    /// <summary>Lets go of the process without touching it (the silo is stopping; QEMU keeps running).</summary>
    public async Task DetachAsync()
    {
        if (Interlocked.Exchange(ref _detached, 1) == 1)
        {
            return;
        }

        QmpClient? qmp;
        lock (_gate)
        {
            _detaching = true;
            qmp = _qmp;
        }

        await _detach.CancelAsync().ConfigureAwait(false);
        if (qmp is not null)
        {
            await qmp.DisposeAsync().ConfigureAwait(false);
        }

        await _monitor.ConfigureAwait(false);
        await _consoleLogWatch.ConfigureAwait(false);
        await CloseConsoleAsync().ConfigureAwait(false);
    }

    private async Task WaitForReconnectAsync(Task reconnected, string command, CancellationToken cancellationToken)
    {
        try
        {
            await reconnected.WaitAsync(ExitAfterQmpClosed + _options.QmpTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{Name}': QMP '{command}': the monitor connection was lost and not re-established", ex);
        }
    }

    private QmpClient RequireAlive(string what)
    {
        var qmp = Volatile.Read(ref _qmp);
        if (!Status.IsAlive || qmp is null)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{Name}' has no running process ({what})");
        }

        return qmp;
    }

    /// <summary>Changes the state of a live process (a null power keeps the current one); an ended process keeps its end.</summary>
    private void Change(ProcessPower? power, string? reason, bool publish)
    {
        lock (_gate)
        {
            if (!_status.IsAlive)
            {
                return;
            }

            _status = _status with { Power = power ?? _status.Power, Reason = reason };
            if (publish)
            {
                _publish(_status);
            }
        }
    }

    /// <summary>Records the end once, and publishes it (under the gate, so it is the last event of this process).</summary>
    private void End(ProcessPower power, string reason)
    {
        lock (_gate)
        {
            _status = _status with { Power = power, Pid = null, Reason = reason };
            _publish(_status);
        }
    }

    private static async Task<(ProcessPower Power, string? Reason)> QueryPowerAsync(QmpClient qmp, CancellationToken cancellationToken)
    {
        var status = await qmp.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false);
        var running = status.TryGetProperty("running", out var r) && r.GetBoolean();
        var detail = status.TryGetProperty("status", out var s) ? s.GetString() : null;
        var reason = running || detail is null or "paused" or "prelaunch" ? null : $"QEMU status {detail}";
        return (running ? ProcessPower.Running : ProcessPower.Paused, reason);
    }

    private async Task MonitorAsync()
    {
        var detach = _detach.Token;
        var exited = false;
        try
        {
            while (true)
            {
                var qmp = Volatile.Read(ref _qmp)!;
                await foreach (var qmpEvent in qmp.Events.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    Handle(qmpEvent);
                }

                // The connection closed: QEMU is exiting, or we are detaching, or (rarely) only the connection dropped.
                if (IsDetaching())
                {
                    break;
                }

                if (await WaitForProcessExitAsync(ExitAfterQmpClosed, detach).ConfigureAwait(false))
                {
                    exited = true;
                    break;
                }

                LogQmpLost(Name, Pid ?? 0);
                await TryReconnectAsync(detach).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (detach.IsCancellationRequested)
        {
            // Detached: QEMU runs on; the next driver finds it.
        }

        // An exit seen just as a detach began is still recorded, so the next driver knows how the process ended.
        if (exited)
        {
            await FinishAsync().ConfigureAwait(false);
        }

        if (Pid is { } pid)
        {
            Watched.TryRemove(pid, out _);
        }
    }

    private bool IsDetaching()
    {
        lock (_gate)
        {
            return _detaching;
        }
    }

    private void Handle(QmpEvent qmpEvent)
    {
        FulfilExpectations(qmpEvent);
        switch (qmpEvent.Name)
        {
            case "STOP":
                StoppedAt = qmpEvent.Timestamp;
                Change(ProcessPower.Paused, reason: null, publish: true);
                break;
            case "RESUME":
                ResumedAt = qmpEvent.Timestamp;
                Change(ProcessPower.Running, reason: null, publish: true);
                break;
            case "RESET":
                Change(power: null, qmpEvent.GetBoolean("guest") == true ? "guest rebooted" : "reset by the host", publish: true);
                break;
            case "SHUTDOWN":
                _shutdownReason = qmpEvent.GetString("reason") ?? "unknown";
                break;
            case "GUEST_PANICKED":
                Change(power: null, "guest panicked", publish: true);
                break;
        }
    }

    /// <summary>QMP dropped but QEMU lives on: reconnect rather than lose track of a running guest.</summary>
    private async Task TryReconnectAsync(CancellationToken detach)
    {
        QmpClient fresh;
        try
        {
            fresh = await QmpClient.ConnectAsync(Paths.QmpSocket, _options.QmpTimeout, detach).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever went wrong, the monitor loop must live on: it alone notices the exit.
            LogReconnectFailed(Name, ex.Message);
            return;
        }

        QmpClient? old;
        lock (_gate)
        {
            old = _detaching ? null : _qmp;
            if (!_detaching)
            {
                _qmp = fresh;
            }
        }

        if (old is null)
        {
            // Detaching began while we connected: the new connection is nobody's.
            await fresh.DisposeAsync().ConfigureAwait(false);
            return;
        }

        await old.DisposeAsync().ConfigureAwait(false);
        LogReconnected(Name);
        _reconnected.Fire();
        try
        {
            // Events sent while we were away are lost: take the state afresh.
            var (power, reason) = await QueryPowerAsync(fresh, detach).ConfigureAwait(false);
            if (power != Status.Power)
            {
                Change(power, reason, publish: true);
            }
        }
        catch (QmpException ex)
        {
            LogReconnectFailed(Name, ex.Message);
        }
    }

    private async Task<bool> WaitForProcessExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Pid is { } pid && Processes.IsAlive(pid))
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(ExitPoll, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    private async Task FinishAsync()
    {
        // We are QEMU's subreaper (or parent): collect it, which also tells how it ended.
        var how = Pid is { } pid ? await Processes.ReapAsync(pid, ReapPatience).ConfigureAwait(false) : null;
        var stopRequested = Volatile.Read(ref _stopRequested) == 1;
        var (power, reason) = (_shutdownReason, stopRequested) switch
        {
            ("guest-shutdown", _) => (ProcessPower.ShutDown, "guest powered off"),
            (_, true) when _killed => (ProcessPower.ShutDown, $"stopped by the host: QEMU did not quit within {_options.QuitTimeout.TotalSeconds:0.#} s and was killed"),
            (_, true) when _graceExpired => (ProcessPower.ShutDown, "stopped by the host: the guest did not power off within its grace period, so QEMU was quit"),
            (_, true) => (ProcessPower.ShutDown, "stopped by the host"),
            ("host-signal", _) => (ProcessPower.ShutDown, "QEMU was terminated by a signal"),
            ({ } other, _) => (ProcessPower.ShutDown, $"QEMU shut down ({other})"),
            (null, _) => (ProcessPower.Crashed, how is null ? "QEMU exited without shutting down (crashed or killed)" : $"QEMU exited without shutting down ({how})"),
        };

        // The cgroup says whether its OOM killer ended QEMU: the one crash whose cause the fabric knows for sure.
        var cgroup = _record.Cgroup is { } relative ? Confinement.VmCgroup.Existing(relative) : null;
        if (_shutdownReason is null && cgroup?.OomKills() > 0)
        {
            var limit = cgroup.MemoryLimitBytes is { } bytes ? $" ({bytes >> 20} MiB)" : "";
            reason = $"QEMU ran out of memory: killed by the memory limit of its cgroup{limit}";
        }

        RecordExit(power, reason);
        cgroup?.TryRemove();
        await CloseConsoleAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _qmp) is { } qmp)
        {
            await qmp.DisposeAsync().ConfigureAwait(false);
        }

        LogExited(Name, Pid ?? 0, power, reason);
        End(power, reason);
        ConsoleOutput.Fire();
        _reconnected.Fire();
        _exited.TrySetResult();
    }

    private async Task CloseConsoleAsync()
    {
        await _consoleLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_console is not null)
            {
                await _console.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _consoleLock.Release();
        }
    }

    private void RecordExit(ProcessPower power, string reason)
    {
        try
        {
            (_record with { Exit = new ExitRecord(power, reason, DateTimeOffset.UtcNow) }).Write(Paths.InstanceFile);
            File.Delete(Paths.PidFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogRecordFailed(Name, ex.Message);
        }
    }

    private async Task StopSequenceAsync(StopRequest request)
    {
        try
        {
            if (!request.Force && Status.Power == ProcessPower.Running)
            {
                await TryCommandAsync("system_powerdown").ConfigureAwait(false);
                if (await ExitsWithinAsync(request.GracePeriod, _forceStop.Task).ConfigureAwait(false))
                {
                    return;
                }

                _graceExpired = !_forceStop.Task.IsCompleted;
                LogGraceExpired(Name, request.GracePeriod.TotalSeconds);
            }

            await TryCommandAsync("quit").ConfigureAwait(false);
            if (await ExitsWithinAsync(_options.QuitTimeout, interrupt: null).ConfigureAwait(false))
            {
                return;
            }

            if (Pid is { } pid && Processes.IsAlive(pid))
            {
                _killed = true;
                LogKilling(Name, pid);
                Processes.Kill(pid);
            }
        }
        catch (Exception ex)
        {
            LogStopFailed(Name, ex.Message);
        }
    }

    private async Task TryCommandAsync(string command)
    {
        try
        {
            if (Volatile.Read(ref _qmp) is { IsClosed: false } qmp)
            {
                await qmp.ExecuteAsync(command, timeout: _options.QmpTimeout).ConfigureAwait(false);
            }
        }
        catch (QmpException ex)
        {
            // The process may be exiting already; the escalation carries on.
            LogCommandFailed(Name, command, ex.Message);
        }
    }

    /// <summary>Waits for the exit, at most <paramref name="timeout"/>, or until <paramref name="interrupt"/> completes.</summary>
    private async Task<bool> ExitsWithinAsync(TimeSpan timeout, Task? interrupt)
    {
        using var timer = new CancellationTokenSource();
        var delay = Task.Delay(timeout, timer.Token);
        await (interrupt is null ? Task.WhenAny(Exited, delay) : Task.WhenAny(Exited, delay, interrupt)).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        return Exited.IsCompleted;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: its console terminal cannot be opened ({Error}); its output is still logged, and typed input will try again")]
    private static partial void LogConsoleUnavailable(ILogger logger, string vm, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: QEMU pid {Pid} ended: {Power} ({Reason})")]
    private partial void LogExited(string vm, int pid, ProcessPower power, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QMP connection lost while QEMU pid {Pid} still runs; reconnecting")]
    private partial void LogQmpLost(string vm, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: QMP connection re-established")]
    private partial void LogReconnected(string vm);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QMP reconnect failed: {Error}")]
    private partial void LogReconnectFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: guest did not power off within {Seconds} s; quitting QEMU")]
    private partial void LogGraceExpired(string vm, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QEMU pid {Pid} did not quit; killing it")]
    private partial void LogKilling(string vm, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: stop sequence failed: {Error}")]
    private partial void LogStopFailed(string vm, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "VM {Vm}: QMP {Command} failed during stop: {Error}")]
    private partial void LogCommandFailed(string vm, string command, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: could not record its exit: {Error}")]
    private partial void LogRecordFailed(string vm, string error);
}
