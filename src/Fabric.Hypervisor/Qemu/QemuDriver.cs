using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Linux;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Runs VMs as real QEMU processes on this machine. Each process daemonizes (so it outlives the silo), is watched over
/// QMP, and is found again by <see cref="AttachAllAsync"/> after a silo restart from its runtime directory.
/// </summary>
public sealed partial class QemuDriver : IHypervisorDriver, IGuestConsole
{
    private const int MaxConsoleInput = 4096;

    /// <summary>What a QEMU process is called even when started through a wrapper that execs it.</summary>
    private const string DefaultQemuCommand = "qemu-system-x86_64";
    private static readonly TimeSpan LogCatchUp = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan ExitPollInterval = TimeSpan.FromMilliseconds(50);

    private readonly QemuDriverOptions _options;
    private readonly AcceleratorChoice _accelerator;
    private readonly ILogger<QemuDriver> _logger;
    private readonly ConcurrentDictionary<string, QemuVm> _vms = new(StringComparer.Ordinal);
    private readonly Channel<ProcessEvent> _events = Channel.CreateUnbounded<ProcessEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly FileStream _dataDirectoryLock;
    private int _disposed;

    private QemuDriver(QemuDriverOptions options, AcceleratorChoice accelerator, IReadOnlyDictionary<string, GuestImage> images, HostFacts facts, FileStream dataDirectoryLock, ILogger<QemuDriver> logger, IHostNetworks? networks)
    {
        _networks = networks;
        _options = options;
        _dataDirectoryLock = dataDirectoryLock;
        _accelerator = accelerator;
        Images = images;
        Facts = facts;
        _logger = logger;
    }

    public string Kind => "qemu";

    public HostFacts Facts { get; }

    public MemoryOverheadFormula MemoryOverhead => QemuMemoryOverhead.Formula;

    public IReadOnlyDictionary<string, GuestImage> Images { get; }

    public ChannelReader<ProcessEvent> Events => _events.Reader;

    /// <summary>
    /// Prepares the driver for this machine: checks the data directory, decides the accelerator once (logging why),
    /// loads the guest images and reads QEMU's version. <paramref name="networks"/>: the host's virtual networks, offered as a capability where the host may realize them (its own network namespace).
    /// </summary>
    public static async Task<QemuDriver> CreateAsync(QemuDriverOptions options, ILogger<QemuDriver> logger, CancellationToken cancellationToken, IHostNetworks? networks = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        if (dataDirectory.Length > VmPaths.MaxDataDirectoryLength)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                $"dataDirectory '{dataDirectory}' is {dataDirectory.Length} characters long; VM sockets need it to be at most {VmPaths.MaxDataDirectoryLength}");
        }

        // The driver keeps its own copy: the caller's object may change (or be shared) afterwards.
        options = new QemuDriverOptions
        {
            DataDirectory = dataDirectory,
            ImagesDirectory = Path.GetFullPath(options.ImagesDirectory),
            QemuBinary = options.QemuBinary,
            Accelerator = options.Accelerator,
            LaunchTimeout = options.LaunchTimeout,
            QmpTimeout = options.QmpTimeout,
            QuitTimeout = options.QuitTimeout,
            ConsoleLogLimitBytes = new ConsoleLogLimit(options.ConsoleLogLimitBytes).Bytes,
            StreamTls = options.StreamTls,
        };
        options.StreamTls?.EnsureReadable();
        Directory.CreateDirectory(Path.Combine(dataDirectory, "vms"));
        Directory.CreateDirectory(Path.Combine(dataDirectory, "run"));
        var version = await ReadVersionAsync(options.QemuBinary, cancellationToken).ConfigureAwait(false);
        var dataDirectoryLock = LockDataDirectory(dataDirectory);
        try
        {
            var accelerator = AcceleratorProbe.Decide(options.Accelerator, AcceleratorProbe.ReadFacts());
            LogAccelerator(logger, accelerator.Name, accelerator.Reason);

            var (images, problems) = ImageCatalog.Load(options.ImagesDirectory);
            foreach (var problem in problems)
            {
                LogImageProblem(logger, problem);
            }

            LogImages(logger, images.Count, images.Keys);
            if (options.StreamTls is null)
            {
                LogStreamsInTheClear(logger);
            }

            Processes.BecomeSubreaper();

            var facts = new HostFacts(Environment.ProcessorCount, ReadMemoryMiB(), accelerator.Name, accelerator.Reason, version);
            return new QemuDriver(options, accelerator, images, facts, dataDirectoryLock, logger, networks);
        }
        catch
        {
            await dataDirectoryLock.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<IReadOnlyList<ProcessStatus>> AttachAllAsync(CancellationToken cancellationToken)
    {
        var found = new List<ProcessStatus>();
        foreach (var directory in Directory.EnumerateDirectories(Path.Combine(_options.DataDirectory, "vms")).Order(StringComparer.Ordinal))
        {
            var vm = Path.GetFileName(directory);
            if (_vms.TryGetValue(vm, out var known))
            {
                // Already watched (launched or attached by this driver): a second QMP client would get no greeting.
                found.Add(known.Status);
                continue;
            }

            VmPaths paths;
            try
            {
                paths = VmPaths.For(_options.DataDirectory, vm);
            }
            catch (HypervisorException)
            {
                continue; // Not a VM's directory: every VM name is a safe name.
            }

            if (InstanceRecord.TryRead(paths.InstanceFile) is not { } record || record.Vm != vm)
            {
                continue;
            }

            var attached = await AttachOneAsync(record, paths, cancellationToken).ConfigureAwait(false);
            await ReconcileDisksAsync(attached, cancellationToken).ConfigureAwait(false);
            await ReconcileNicsAsync(attached, cancellationToken).ConfigureAwait(false);
            _vms[vm] = attached;
            found.Add(attached.Status);
        }

        // A QEMU that ended while nobody watched is a zombie if this process was its subreaper all along.
        ReapLeftovers();
        return found;
    }

    public async Task<ProcessStatus> LaunchAsync(LaunchSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var paths = VmPaths.For(_options.DataDirectory, spec.Vm);
        if (!Images.TryGetValue(spec.Image, out var image))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"unknown image '{spec.Image}' (available: {string.Join(", ", Images.Keys)})");
        }

        if (spec.MemoryMiB < image.MinMemoryMiB)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"image '{image.Name}' needs at least {image.MinMemoryMiB} MiB of memory");
        }

        if (spec.VCpus < 1)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"a VM needs at least 1 vCPU, not {spec.VCpus}");
        }

        EnsureDistinctDisks(spec.Disks);
        EnsureValidNics(spec.Nics);
        if (_vms.TryGetValue(spec.Vm, out var existing) && existing.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{spec.Vm}' already has a running process (pid {existing.Pid})");
        }

        // A process of an earlier driver that nobody re-attached: launching over it would unlink its sockets and
        // leave a guest running that nothing can control.
        if (existing is null && InstanceRecord.TryRead(paths.InstanceFile) is { Exit: null } earlier
            && ReadPid(paths.PidFile) is { } orphan && Processes.IsAlive(orphan) && IsOurProcess(orphan, earlier))
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{spec.Vm}' already has a running process (pid {orphan}) that this driver has not attached; call AttachAllAsync first");
        }

        var createdDirectory = !Directory.Exists(paths.Directory);
        var previous = createdDirectory ? null : InstanceRecord.TryRead(paths.InstanceFile);
        Directory.CreateDirectory(paths.Directory);
        foreach (var stale in new[] { paths.QmpSocket, paths.ConsoleSocket, paths.PidFile })
        {
            File.Delete(stale);
        }

        // QEMU appends to its console log (so that the driver can rotate it): a new process needs a new one.
        (existing?.ConsoleLog ?? ConsoleLogOf(spec.Vm, paths)).StartFresh();

        var arguments = QemuCommandLine.Build(spec, image, _accelerator, paths);
        var record = new InstanceRecord(spec.Vm, spec.Epoch, spec.InstanceId, DateTimeOffset.UtcNow, arguments, Exit: null);
        record.Write(paths.InstanceFile);
        new DiskRecord(spec.InstanceId, spec.Disks).Write(paths.DisksFile);
        new NicRecord(spec.InstanceId, spec.Nics).Write(paths.NicsFile);

        var started = Stopwatch.GetTimestamp();
        QemuVm vm;
        try
        {
            var pid = await DaemonizeAsync(record, paths, cancellationToken).ConfigureAwait(false);
            try
            {
                vm = await QemuVm.AttachAsync(record, pid, paths, _options, _logger, Publish, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Never leave a process we cannot control behind.
                await Processes.KillAndReapAsync(pid, _options.QuitTimeout).ConfigureAwait(false);
                if (ex is OperationCanceledException)
                {
                    throw;
                }

                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{spec.Vm}': QEMU started (pid {pid}) but its monitor did not answer: {ex.Message}", ex);
            }
        }
        catch
        {
            // A launch that failed leaves nothing behind: no record a later AttachAllAsync would mistake for a crash.
            ForgetFailedLaunch(paths, createdDirectory, previous);
            throw;
        }

        _vms[spec.Vm] = vm;
        var elapsed = Stopwatch.GetElapsedTime(started);
        LogLaunched(spec.Vm, vm.Pid ?? 0, _accelerator.Name, elapsed.TotalMilliseconds);
        return vm.Status;
    }

    /// <summary>For tests: drops the VM's QMP connection as a fault would; the driver must reconnect on its own.</summary>
    internal Task DropMonitorConnectionAsync(string vm) => Require(vm).DropMonitorConnectionAsync();

    /// <summary>For tests: a QMP command on the VM's live process (the driver holds QEMU's one monitor connection).</summary>
    internal Task<System.Text.Json.JsonElement> QmpForTestsAsync(string vm, string command, System.Text.Json.Nodes.JsonObject? arguments = null) =>
        Require(vm).CommandAsync(command, arguments, CancellationToken.None);

    public ProcessStatus GetStatus(string vm) =>
        _vms.TryGetValue(vm, out var qemu) ? qemu.Status : ProcessStatus.Absent(vm);

    public IReadOnlyList<ProcessStatus> List() => [.. _vms.Values.Select(vm => vm.Status)];

    public Task<ProcessStatus> PauseAsync(string vm, CancellationToken cancellationToken) =>
        Require(vm).ExecuteAsync("stop", ProcessPower.Paused, cancellationToken);

    public async Task<ProcessStatus> ResumeAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        var status = await qemu.ExecuteAsync("cont", ProcessPower.Running, cancellationToken).ConfigureAwait(false);
        await AnnounceArrivalAsync(qemu, cancellationToken).ConfigureAwait(false);
        return status;
    }

    public Task<ProcessStatus> ResetAsync(string vm, CancellationToken cancellationToken) =>
        Require(vm).ExecuteAsync("system_reset", expected: null, cancellationToken);

    public Task StopAsync(string vm, StopRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var qemu = Require(vm);
        if (!qemu.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' has no running process to stop");
        }

        qemu.BeginStop(request);
        return Task.CompletedTask;
    }

    public async Task<ConsoleRead> ReadConsoleAsync(string vm, long offset, int maxBytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        var paths = VmPaths.For(_options.DataDirectory, vm);
        _vms.TryGetValue(vm, out var qemu);
        var instance = qemu?.InstanceId ?? Guid.Empty;
        var log = qemu?.ConsoleLog ?? ConsoleLogOf(vm, paths);
        maxBytes = Math.Clamp(maxBytes, 1, 1 << 20);

        var pulse = qemu?.ConsoleOutput.Next;
        var read = await log.ReadAsync(offset, maxBytes, instance, cancellationToken).ConfigureAwait(false);
        if (read.Data.Length > 0 || wait <= TimeSpan.Zero || pulse is null || qemu is null || !qemu.Status.IsAlive)
        {
            return read;
        }

        try
        {
            await pulse.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return read;
        }

        // QEMU writes its log file just after the socket, so give the file a moment to catch up with the pulse.
        for (var attempt = 0; attempt < 25; attempt++)
        {
            read = await log.ReadAsync(offset, maxBytes, instance, cancellationToken).ConfigureAwait(false);
            if (read.Data.Length > 0 || !qemu.Status.IsAlive)
            {
                break;
            }

            await Task.Delay(LogCatchUp, cancellationToken).ConfigureAwait(false);
        }

        return read;
    }

    public Task SendConsoleAsync(string vm, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.Length > MaxConsoleInput)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"console input is {data.Length} bytes; the limit is {MaxConsoleInput}");
        }

        return Require(vm).SendConsoleAsync(data, cancellationToken);
    }

    public Task RemoveAsync(string vm, CancellationToken cancellationToken)
    {
        var paths = VmPaths.For(_options.DataDirectory, vm);
        if (_vms.TryGetValue(vm, out var qemu) && qemu.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' still has a running process (pid {qemu.Pid})");
        }

        _vms.TryRemove(vm, out _);
        if (Directory.Exists(paths.Directory))
        {
            Directory.Delete(paths.Directory, recursive: true);
        }

        File.Delete(paths.QmpSocket);
        File.Delete(paths.ConsoleSocket);
        return Task.CompletedTask;
    }

    /// <summary>Lets go of every process without stopping any: VMs outlive the silo and are re-attached at its next start.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        foreach (var vm in _vms.Values)
        {
            await vm.DetachAsync().ConfigureAwait(false);
        }

        _events.Writer.TryComplete();
        await _dataDirectoryLock.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// One driver per data directory: a second one would fight the first for the VMs' QMP sockets (QEMU serves one
    /// client at a time) and, getting no greeting, take running guests for dead.
    /// </summary>
    private static FileStream LockDataDirectory(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "driver.lock");
        try
        {
            // FileShare.None takes an exclusive flock on Linux; the kernel drops it when this process ends.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"data directory '{dataDirectory}' is in use by another driver ({ex.Message})", ex);
        }
    }

    private static void ForgetFailedLaunch(VmPaths paths, bool createdDirectory, InstanceRecord? previous)
    {
        try
        {
            foreach (var file in new[] { paths.QmpSocket, paths.ConsoleSocket, paths.PidFile })
            {
                File.Delete(file);
            }

            if (createdDirectory)
            {
                Directory.Delete(paths.Directory, recursive: true);
            }
            else if (previous is not null)
            {
                previous.Write(paths.InstanceFile);
            }
            else
            {
                File.Delete(paths.InstanceFile);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the launch failure is what the caller must hear about.
        }
    }

    /// <summary>The console log of a VM no process of this driver watches (nothing rotates it meanwhile).</summary>
    private ConsoleLog ConsoleLogOf(string vm, VmPaths paths) =>
        new(vm, paths, new ConsoleLogLimit(_options.ConsoleLogLimitBytes), _logger);

    private async Task<QemuVm> AttachOneAsync(InstanceRecord record, VmPaths paths, CancellationToken cancellationToken)
    {
        if (record.Exit is { } exit)
        {
            return QemuVm.Ended(record, paths, _options, _logger, exit);
        }

        await AwaitLaunchInFlightAsync(record, paths, cancellationToken).ConfigureAwait(false);

        if (ReadPid(paths.PidFile) is { } pid && Processes.IsAlive(pid) && IsOurProcess(pid, record))
        {
            try
            {
                var vm = await QemuVm.AttachAsync(record, pid, paths, _options, _logger, Publish, cancellationToken).ConfigureAwait(false);
                LogReattached(record.Vm, pid, vm.Status.Power);
                return vm;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A guest nobody can control must not run on while the fabric thinks it stopped: end it, and say so.
                LogReattachFailed(record.Vm, pid, ex.Message);
                await Processes.KillAndReapAsync(pid, _options.QuitTimeout).ConfigureAwait(false);
                var killed = new ExitRecord(ProcessPower.Crashed, $"QEMU pid {pid} ran but its monitor did not answer at re-attach ({ex.Message}); it was killed", DateTimeOffset.UtcNow);
                (record with { Exit = killed }).Write(paths.InstanceFile);
                return QemuVm.Ended(record, paths, _options, _logger, killed);
            }
        }

        var gone = await DescribeExitWhileDetachedAsync(paths).ConfigureAwait(false);
        (record with { Exit = gone }).Write(paths.InstanceFile);
        File.Delete(paths.PidFile);
        LogFoundGone(record.Vm, gone.Power, gone.Reason);
        return QemuVm.Ended(record, paths, _options, _logger, gone);
    }

    /// <summary>
    /// A launch a previous driver started but did not see through (its silo died meanwhile): the launcher may still be
    /// on its way to a running QEMU. Concluding now that the process is gone would let it come up unwatched, so wait for
    /// the launcher to finish, within the launch timeout counted from the launch; a launcher past that is killed, with
    /// whatever daemon it already made, as the launch itself would have done.
    /// </summary>
    private async Task AwaitLaunchInFlightAsync(InstanceRecord record, VmPaths paths, CancellationToken cancellationToken)
    {
        if (record.LauncherPid is not { } launcher || !Processes.IsAlive(launcher) || !IsProcessOf(launcher, paths))
        {
            return;
        }

        LogLaunchInFlight(record.Vm, launcher);
        var deadline = record.LaunchedAt + _options.LaunchTimeout;
        while (Processes.IsAlive(launcher) && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(ExitPollInterval, cancellationToken).ConfigureAwait(false);
        }

        if (Processes.IsAlive(launcher))
        {
            Processes.Kill(launcher);
            if (ReadPid(paths.PidFile) is { } daemon && Processes.IsAlive(daemon) && IsProcessOf(daemon, paths))
            {
                await Processes.KillAndReapAsync(daemon, _options.QuitTimeout).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// How a process nobody watched ended. QEMU removes its pid file when it exits cleanly (the guest powered off or
    /// it was told to quit); a pid file naming a dead process means it was killed or crashed.
    /// </summary>
    private static async Task<ExitRecord> DescribeExitWhileDetachedAsync(VmPaths paths)
    {
        var now = DateTimeOffset.UtcNow;
        if (ReadPid(paths.PidFile) is not { } pid)
        {
            return new ExitRecord(ProcessPower.ShutDown, "QEMU shut down while no host agent was attached (its pid file is gone)", now);
        }

        if (Processes.IsAlive(pid))
        {
            return new ExitRecord(ProcessPower.Crashed, $"QEMU exited while no host agent was attached (pid {pid} now belongs to another process)", now);
        }

        // If it was our child (this process was its subreaper), collect the zombie and learn how it died.
        var how = await Processes.ReapAsync(pid, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        return new ExitRecord(ProcessPower.Crashed, $"QEMU pid {pid} exited while no host agent was attached ({how ?? "killed or crashed"})", now);
    }

    /// <summary>Guards against pid reuse: the process must carry this VM's name and instance id on its command line.</summary>
    private static bool IsOurProcess(int pid, InstanceRecord record)
    {
        var arguments = Processes.Arguments(pid);
        return arguments.Contains($"guest={record.Vm},debug-threads=on") && arguments.Contains(record.InstanceId.ToString("D"));
    }

    private async Task<int> DaemonizeAsync(InstanceRecord record, VmPaths paths, CancellationToken cancellationToken)
    {
        var vm = record.Vm;
        var startInfo = new ProcessStartInfo(_options.QemuBinary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in record.Arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': could not start {_options.QemuBinary}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': cannot run {_options.QemuBinary}: {ex.Message}", ex);
        }

        using (process)
        {
            try
            {
                // A driver that takes over mid-launch (this silo died) must know a launcher is still on its way.
                (record with { LauncherPid = process.Id }).Write(paths.InstanceFile);
                return await AwaitDaemonAsync(vm, process, paths, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Daemonizing leaves QEMU's intermediate process (and, when the start failed, the daemon itself) as
                // zombies re-parented to us, the subreaper; nobody else would ever collect them.
                ReapLeftovers();
            }
        }
    }

    private async Task<int> AwaitDaemonAsync(string vm, Process process, VmPaths paths, CancellationToken cancellationToken)
    {
        // The parent exits once the daemon is initialised; the daemon then points its stdio at /dev/null, closing our pipes.
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).WaitAsync(_options.LaunchTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // The daemon may already have written its pid file; never leave it running uncontrolled.
            process.Kill(entireProcessTree: true);
            if (ReadPid(paths.PidFile) is { } daemon && IsProcessOf(daemon, paths))
            {
                await Processes.KillAndReapAsync(daemon, _options.QuitTimeout).ConfigureAwait(false);
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU did not initialise within {_options.LaunchTimeout.TotalSeconds:0} s");
        }

        var errors = (await stderr.ConfigureAwait(false) + await stdout.ConfigureAwait(false)).Trim();
        if (process.ExitCode != 0)
        {
            var message = errors.Length > 800 ? errors[..800] + "…" : errors;
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU exited with code {process.ExitCode}: {message}");
        }

        return ReadPid(paths.PidFile) ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU daemonized but wrote no pid file");
    }

    /// <summary>Whether <paramref name="pid"/> is a QEMU started for these paths (its command line names the pid file).</summary>
    private static bool IsProcessOf(int pid, VmPaths paths) => Processes.Arguments(pid).Contains(paths.PidFile);

    /// <summary>Reaps zombie QEMU children of ours that no monitor watches (monitors reap their own, learning how it ended).</summary>
    private void ReapLeftovers() =>
        Processes.ReapZombieChildren([Path.GetFileName(_options.QemuBinary), DefaultQemuCommand], QemuVm.WatchedPids);

    private static int? ReadPid(string pidFile)
    {
        try
        {
            return File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private QemuVm Require(string vm)
    {
        VmPaths.EnsureSafeName(vm);
        return _vms.TryGetValue(vm, out var qemu)
            ? qemu
            : throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{vm}' has no process on this host");
    }

    private void Publish(ProcessStatus status) => _events.Writer.TryWrite(new ProcessEvent(status, DateTimeOffset.UtcNow));

    private static async Task<string> ReadVersionAsync(string binary, CancellationToken cancellationToken)
    {
        try
        {
            var startInfo = new ProcessStartInfo(binary, "-version") { RedirectStandardOutput = true, UseShellExecute = false };
            using var process = Process.Start(startInfo)!;
            var output = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            var firstLine = output.Split('\n')[0];
            var marker = firstLine.IndexOf("version ", StringComparison.Ordinal);
            return marker >= 0 ? firstLine[(marker + "version ".Length)..].Split(' ')[0] : firstLine.Trim();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot run {binary}: {ex.Message} (run ./fabric setup)", ex);
        }
    }

    private static long ReadMemoryMiB()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                return long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Accelerator: {Accelerator} ({Reason})")]
    private static partial void LogAccelerator(ILogger logger, string accelerator, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Guest image problem: {Problem}")]
    private static partial void LogImageProblem(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No stream TLS certificate configured: live migrations and disk mirrors to other hosts travel in the clear (development only)")]
    private static partial void LogStreamsInTheClear(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} guest images: {Names}")]
    private static partial void LogImages(ILogger logger, int count, IEnumerable<string> names);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: QEMU pid {Pid} launched ({Accelerator}) in {Milliseconds:0.0} ms")]
    private partial void LogLaunched(string vm, int pid, string accelerator, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: a launch left in flight by the previous driver is still running (launcher pid {Pid}); waiting for it")]
    private partial void LogLaunchInFlight(string vm, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: re-attached to QEMU pid {Pid} ({Power})")]
    private partial void LogReattached(string vm, int pid, ProcessPower power);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: QEMU pid {Pid} is alive but re-attach failed: {Error}")]
    private partial void LogReattachFailed(string vm, int pid, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: its QEMU process ended while no host agent was attached: {Power} ({Reason})")]
    private partial void LogFoundGone(string vm, ProcessPower power, string reason);
}
