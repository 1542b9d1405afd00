using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qmp;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// One QEMU process the driver watches: its QMP monitor (events and commands), its console link, and the stop
/// escalation. Its end is observed exactly once, recorded in <c>instance.json</c> and published.
/// </summary>
internal sealed partial class QemuVm
{
    private static readonly TimeSpan ExitPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ExitAfterQmpClosed = TimeSpan.FromSeconds(5);

    private readonly QemuDriverOptions _options;
    private readonly ILogger _logger;
    private readonly Action<ProcessStatus> _publish;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _forceStop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly InstanceRecord _record;
    private QmpClient? _qmp;
    private ConsoleLink? _console;
    private Task _monitor = Task.CompletedTask;
    private volatile ProcessPower _power;
    private volatile string? _reason;
    private volatile string? _shutdownReason;
    private volatile bool _detaching;
    private volatile bool _killed;
    private int _stopRequested;

    private QemuVm(InstanceRecord record, int? pid, VmPaths paths, QemuDriverOptions options, ILogger logger, Action<ProcessStatus> publish)
    {
        _record = record;
        Pid = pid;
        Paths = paths;
        _options = options;
        _logger = logger;
        _publish = publish;
    }

    public string Name => _record.Vm;

    public Guid InstanceId => _record.InstanceId;

    public int? Pid { get; }

    public VmPaths Paths { get; }

    public string QemuVersion => _qmp?.Version ?? "";

    /// <summary>Fires whenever the guest writes to its console (and when the process ends).</summary>
    public AsyncPulse ConsoleOutput { get; } = new();

    public Task Exited => _exited.Task;

    public ProcessStatus Status => new(Name, InstanceId, _power, IsAlive ? Pid : null, _reason);

    private bool IsAlive => _power is ProcessPower.Running or ProcessPower.Paused;

    /// <summary>Connects to a live process: QMP first (its state), then the console.</summary>
    public static async Task<QemuVm> AttachAsync(InstanceRecord record, int pid, VmPaths paths, QemuDriverOptions options, ILogger logger, Action<ProcessStatus> publish, CancellationToken cancellationToken)
    {
        var vm = new QemuVm(record, pid, paths, options, logger, publish);
        vm._qmp = await QmpClient.ConnectAsync(paths.QmpSocket, options.QmpTimeout, cancellationToken).ConfigureAwait(false);
        try
        {
            vm._power = await vm.QueryPowerAsync(cancellationToken).ConfigureAwait(false);
            vm._console = await ConsoleLink.ConnectAsync(paths.ConsoleSocket, vm.ConsoleOutput, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await vm._qmp.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        vm._monitor = Task.Run(vm.MonitorAsync, CancellationToken.None);
        return vm;
    }

    /// <summary>A process that has already ended (found so at re-attach, or never launched successfully).</summary>
    public static QemuVm Ended(InstanceRecord record, VmPaths paths, QemuDriverOptions options, ILogger logger, ExitRecord exit)
    {
        var vm = new QemuVm(record with { Exit = exit }, null, paths, options, logger, _ => { })
        {
            _power = exit.Power,
            _reason = exit.Reason,
        };
        vm._exited.TrySetResult();
        return vm;
    }

    public async Task<ProcessStatus> ExecuteAsync(string command, ProcessPower? expected, CancellationToken cancellationToken)
    {
        var qmp = RequireAlive(command);
        try
        {
            await qmp.ExecuteAsync(command, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (QmpException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{Name}': {ex.Message}", ex);
        }

        if (expected is { } power && IsAlive)
        {
            _power = power;
            _reason = null;
        }

        return Status;
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
        RequireAlive("console input");
        if (_console is not { IsOpen: true })
        {
            if (_console is not null)
            {
                await _console.DisposeAsync().ConfigureAwait(false);
            }

            _console = await ConsoleLink.ConnectAsync(Paths.ConsoleSocket, ConsoleOutput, cancellationToken).ConfigureAwait(false);
        }

        await _console.SendAsync(data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lets go of the process without touching it (the silo is stopping; QEMU keeps running).</summary>
    public async Task DetachAsync()
    {
        _detaching = true;
        if (_qmp is not null)
        {
            await _qmp.DisposeAsync().ConfigureAwait(false);
        }

        await _monitor.ConfigureAwait(false);
        if (_console is not null)
        {
            await _console.DisposeAsync().ConfigureAwait(false);
        }
    }

    private QmpClient RequireAlive(string what)
    {
        if (!IsAlive || _qmp is null)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{Name}' has no running process ({what})");
        }

        return _qmp;
    }

    private async Task<ProcessPower> QueryPowerAsync(CancellationToken cancellationToken)
    {
        var status = await _qmp!.ExecuteAsync("query-status", cancellationToken: cancellationToken).ConfigureAwait(false);
        var running = status.TryGetProperty("running", out var r) && r.GetBoolean();
        var detail = status.TryGetProperty("status", out var s) ? s.GetString() : null;
        _reason = running || detail is null or "paused" or "prelaunch" ? null : $"QEMU status {detail}";
        return running ? ProcessPower.Running : ProcessPower.Paused;
    }

    private async Task MonitorAsync()
    {
        while (true)
        {
            await foreach (var qmpEvent in _qmp!.Events.ReadAllAsync().ConfigureAwait(false))
            {
                Handle(qmpEvent);
            }

            if (_detaching)
            {
                return;
            }

            if (await WaitForProcessExitAsync(ExitAfterQmpClosed).ConfigureAwait(false))
            {
                break;
            }

            // QMP dropped but QEMU lives on: reconnect rather than lose track of a running guest.
            LogQmpLost(Name, Pid ?? 0);
            await TryReconnectAsync().ConfigureAwait(false);
        }

        await FinishAsync().ConfigureAwait(false);
    }

    private void Handle(QmpEvent qmpEvent)
    {
        switch (qmpEvent.Name)
        {
            case "STOP":
                _power = ProcessPower.Paused;
                Publish();
                break;
            case "RESUME":
                _power = ProcessPower.Running;
                _reason = null;
                Publish();
                break;
            case "RESET":
                _reason = qmpEvent.GetBoolean("guest") == true ? "guest rebooted" : "reset by the host";
                Publish();
                break;
            case "SHUTDOWN":
                _shutdownReason = qmpEvent.GetString("reason") ?? "unknown";
                break;
            case "GUEST_PANICKED":
                _reason = "guest panicked";
                Publish();
                break;
        }
    }

    private async Task TryReconnectAsync()
    {
        try
        {
            var old = _qmp!;
            _qmp = await QmpClient.ConnectAsync(Paths.QmpSocket, _options.QmpTimeout).ConfigureAwait(false);
            await old.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is QmpException or IOException or System.Net.Sockets.SocketException)
        {
            LogReconnectFailed(Name, ex.Message);
        }
    }

    private async Task<bool> WaitForProcessExitAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Pid is { } pid && Processes.IsAlive(pid))
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(ExitPoll).ConfigureAwait(false);
        }

        return true;
    }

    private async Task FinishAsync()
    {
        var stopRequested = Volatile.Read(ref _stopRequested) == 1;
        (_power, _reason) = (_shutdownReason, stopRequested) switch
        {
            ("guest-shutdown", _) => (ProcessPower.ShutDown, "guest powered off"),
            (_, true) when _killed => (ProcessPower.ShutDown, $"killed: QEMU did not quit within {_options.QuitTimeout.TotalSeconds:0} s"),
            (_, true) => (ProcessPower.ShutDown, "stopped by the host"),
            ("host-signal", _) => (ProcessPower.ShutDown, "QEMU was terminated by a signal"),
            ({ } other, _) => (ProcessPower.ShutDown, $"QEMU shut down ({other})"),
            (null, _) => (ProcessPower.Crashed, "QEMU exited without shutting down (crashed or killed)"),
        };

        if (Pid is { } pid)
        {
            Processes.TryReap(pid);
        }

        RecordExit();
        if (_console is not null)
        {
            await _console.DisposeAsync().ConfigureAwait(false);
        }

        if (_qmp is not null)
        {
            await _qmp.DisposeAsync().ConfigureAwait(false);
        }

        LogExited(Name, Pid ?? 0, _power, _reason ?? "");
        Publish();
        ConsoleOutput.Fire();
        _exited.TrySetResult();
    }

    private void RecordExit()
    {
        try
        {
            (_record with { Exit = new ExitRecord(_power, _reason ?? "", DateTimeOffset.UtcNow) }).Write(Paths.InstanceFile);
            File.Delete(Paths.PidFile);
        }
        catch (IOException ex)
        {
            LogRecordFailed(Name, ex.Message);
        }
    }

    private async Task StopSequenceAsync(StopRequest request)
    {
        try
        {
            if (!request.Force && _power == ProcessPower.Running)
            {
                await TryCommandAsync("system_powerdown").ConfigureAwait(false);
                if (await ExitsWithinAsync(request.GracePeriod, _forceStop.Task).ConfigureAwait(false))
                {
                    return;
                }

                LogGraceExpired(Name, request.GracePeriod.TotalSeconds);
            }

            await TryCommandAsync("quit").ConfigureAwait(false);
            if (await ExitsWithinAsync(_options.QuitTimeout, Task.Delay(Timeout.Infinite)).ConfigureAwait(false))
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
            if (_qmp is { IsClosed: false } qmp)
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
    private async Task<bool> ExitsWithinAsync(TimeSpan timeout, Task interrupt)
    {
        await Task.WhenAny(Exited, Task.Delay(timeout), interrupt).ConfigureAwait(false);
        return Exited.IsCompleted;
    }

    private void Publish() => _publish(Status);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: QEMU pid {Pid} ended: {Power} ({Reason})")]
    private partial void LogExited(string vm, int pid, ProcessPower power, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QMP connection lost while QEMU pid {Pid} still runs; reconnecting")]
    private partial void LogQmpLost(string vm, int pid);

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
