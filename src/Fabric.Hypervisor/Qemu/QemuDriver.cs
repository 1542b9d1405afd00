using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Threading.Channels;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Confinement;
using Fabric.Hypervisor.Linux;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Runs VMs as real QEMU processes on this machine, each confined (docs/confinement.md): a uid of its own, QEMU's
/// seccomp sandbox, its own files only, and a cgroup. Each process runs in a session of its own (so it outlives the
/// silo), is watched over QMP, and is found again by <see cref="AttachAllAsync"/> after a silo restart from its runtime
/// directory.
/// </summary>
public sealed partial class QemuDriver : IHypervisorDriver, IGuestConsole
{
    private const int MaxConsoleInput = 4096;

    /// <summary>What a QEMU process is called even when started through a wrapper that execs it.</summary>
    private const string DefaultQemuCommand = "qemu-system-x86_64";

    /// <summary>How much of <c>qemu.log</c> a failed start quotes.</summary>
    private const int QemuLogQuote = 2000;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary><c>vms/&lt;vm&gt;/</c>: root's (0710, group fabric-qemu), so a QEMU may reach its console log but change no entry.</summary>
    private const UnixFileMode VmDirectoryMode = OwnerOnly | UnixFileMode.GroupExecute;
    private static readonly TimeSpan LogCatchUp = TimeSpan.FromMilliseconds(2);
    private static readonly TimeSpan ExitPollInterval = TimeSpan.FromMilliseconds(50);

    private readonly QemuDriverOptions _options;
    private readonly AcceleratorChoice _accelerator;
    private readonly ILogger<QemuDriver> _logger;
    private readonly ConcurrentDictionary<string, QemuVm> _vms = new(StringComparer.Ordinal);
    private readonly Channel<ProcessEvent> _events = Channel.CreateUnbounded<ProcessEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly FileStream _dataDirectoryLock;
    private readonly int _gid;
    private int _disposed;

    private QemuDriver(QemuDriverOptions options, AcceleratorChoice accelerator, IReadOnlyDictionary<string, GuestImage> images, HostFacts facts, FileStream dataDirectoryLock, ILogger<QemuDriver> logger, IHostNetworks? networks, int gid)
    {
        _gid = gid;
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
            QemuBinary = QemuLauncher.ResolveBinary(options.QemuBinary),
            VmUidBase = options.VmUidBase,
            VmUidCount = options.VmUidCount,
            PidsLimit = options.PidsLimit,
            CgroupHost = options.CgroupHost.Length > 0 ? options.CgroupHost : Path.GetFileName(dataDirectory),
            NetworkNamespace = options.NetworkNamespace,
            MemoryLimitOverrideMiB = options.MemoryLimitOverrideMiB,
            DiskRoots = [.. options.DiskRoots.Select(root => Path.GetFullPath(root).TrimEnd('/'))],
            Accelerator = options.Accelerator,
            LaunchTimeout = options.LaunchTimeout,
            QmpTimeout = options.QmpTimeout,
            QuitTimeout = options.QuitTimeout,
            ConsoleLogLimitBytes = new ConsoleLogLimit(options.ConsoleLogLimitBytes).Bytes,
            StreamTls = options.StreamTls,
        };
        options.StreamTls?.EnsureReadable();

        // QEMU runs as a VM uid in group fabric-qemu: it may pass through the data directory, vms/ and run/ (0710) to its
        // own directories, list none of them, and must reach the guest images.
        var gid = QemuGroup.Resolve();
        foreach (var directory in new[] { dataDirectory, Path.Combine(dataDirectory, "vms"), Path.Combine(dataDirectory, "run") })
        {
            Ownership.EnsureTraversalDirectory(directory, gid);
        }

        Ownership.EnsureTraversable(dataDirectory, gid, "data directory");
        Ownership.EnsureTraversable(options.ImagesDirectory, gid, "images directory");
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
            GiveImagesToGroup(images.Values, options.ImagesDirectory, gid);
            if (options.StreamTls is null)
            {
                LogStreamsInTheClear(logger);
            }

            Processes.BecomeSubreaper();

            var facts = new HostFacts(Environment.ProcessorCount, ReadMemoryMiB(), accelerator.Name, accelerator.Reason, version);
            return new QemuDriver(options, accelerator, images, facts, dataDirectoryLock, logger, networks, gid);
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
            && PidOf(earlier, paths) is { } orphan && Processes.IsAlive(orphan) && IsOurProcess(orphan, earlier))
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{spec.Vm}' already has a running process (pid {orphan}) that this driver has not attached; call AttachAllAsync first");
        }

        // Every file QEMU is to open is checked before anything of the launch is written: a path crafted to leave the
        // allowed places is refused here, not discovered by QEMU.
        EnsureAllowedFiles(spec, image);
        var createdDirectory = !Directory.Exists(paths.Directory);
        var previous = createdDirectory ? null : InstanceRecord.TryRead(paths.InstanceFile);

        // root's directory before anything is written in it (one an older driver gave to a VM's uid is taken back):
        // QEMU may pass through it to its console log, never create, rename or delete an entry in it.
        Directory.CreateDirectory(paths.Directory);
        Ownership.Set(paths.Directory, 0, _gid, VmDirectoryMode);
        foreach (var stale in new[] { paths.QemuLog, Path.Combine(paths.Directory, "qemu.pid") })
        {
            File.Delete(stale);
        }

        // The sockets' directory is made anew, so nothing an earlier process (another uid) left there survives.
        if (Directory.Exists(paths.RunDirectory))
        {
            Directory.Delete(paths.RunDirectory, recursive: true);
        }

        Directory.CreateDirectory(paths.RunDirectory);
        var uid = AllocateUid(spec.InstanceId);

        // QEMU appends to its console log (so that the driver can rotate it): a new process needs a new one, its own.
        (existing?.ConsoleLog ?? ConsoleLogOf(spec.Vm, paths)).StartFresh(uid, _gid);

        var cgroup = VmCgroup.For(_options.CgroupHost, spec.Vm, spec.InstanceId);
        var arguments = QemuCommandLine.Build(spec, image, _accelerator, paths);
        var record = new InstanceRecord(spec.Vm, spec.Epoch, spec.InstanceId, DateTimeOffset.UtcNow, arguments, Exit: null, Uid: uid, Cgroup: cgroup.Relative);
        record.Write(paths.InstanceFile);
        new DiskRecord(spec.InstanceId, spec.Disks).Write(paths.DisksFile);
        new NicRecord(spec.InstanceId, spec.Nics).Write(paths.NicsFile);

        var started = Stopwatch.GetTimestamp();
        QemuVm vm;
        try
        {
            GiveLaunchFilesToVm(paths, uid, spec);
            cgroup.Create(Limits(spec));
            var pid = await StartConfinedAsync(record, paths, cgroup, cancellationToken).ConfigureAwait(false);
            try
            {
                await AwaitMonitorSocketAsync(spec.Vm, pid, paths, record.LaunchedAt + _options.LaunchTimeout, cancellationToken).ConfigureAwait(false);
                vm = await QemuVm.AttachAsync(record, pid, paths, _options, _logger, Publish, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Never leave a process we cannot control behind.
                await Processes.KillAndReapAsync(pid, _options.QuitTimeout).ConfigureAwait(false);
                if (ex is OperationCanceledException or HypervisorException)
                {
                    throw;
                }

                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{spec.Vm}': QEMU started (pid {pid}) but its monitor did not answer: {ex.Message}{QemuLogTail(paths)}", ex);
            }
        }
        catch
        {
            // A launch that failed leaves nothing behind: no record a later AttachAllAsync would mistake for a crash.
            cgroup.TryRemove();
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
        if (InstanceRecord.TryRead(paths.InstanceFile) is { } record)
        {
            // The VM's disks go back to root, and its cgroup away, with the VM.
            foreach (var disk in DiskRecord.Read(paths.DisksFile, record.InstanceId).Where(d => File.Exists(d.Path)))
            {
                TakeDiskBack(disk);
            }

            if (record.Cgroup is { } cgroup)
            {
                VmCgroup.Existing(cgroup).TryRemove();
            }
        }

        if (Directory.Exists(paths.Directory))
        {
            Directory.Delete(paths.Directory, recursive: true);
        }

        if (Directory.Exists(paths.RunDirectory))
        {
            Directory.Delete(paths.RunDirectory, recursive: true);
        }

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
            foreach (var file in new[] { paths.QmpSocket, paths.PidFile })
            {
                File.Delete(file);
            }

            if (Directory.Exists(paths.RunDirectory))
            {
                Directory.Delete(paths.RunDirectory, recursive: true);
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

        if (PidOf(record, paths) is { } pid && Processes.IsAlive(pid) && IsOurProcess(pid, record))
        {
            try
            {
                await AwaitMonitorSocketAsync(record.Vm, pid, paths, DateTimeOffset.UtcNow + _options.QmpTimeout, cancellationToken).ConfigureAwait(false);
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

        var gone = await DescribeExitWhileDetachedAsync(record, paths).ConfigureAwait(false);
        if (record.Cgroup is { } relative)
        {
            VmCgroup.Existing(relative).TryRemove();
        }

        (record with { Exit = gone }).Write(paths.InstanceFile);
        File.Delete(paths.PidFile);
        LogFoundGone(record.Vm, gone.Power, gone.Reason);
        return QemuVm.Ended(record, paths, _options, _logger, gone);
    }

    /// <summary>
    /// A launch a previous driver started but did not see through (its silo died meanwhile): QEMU may still be on its
    /// way to serving its monitor. Concluding now that it is gone would let it come up unwatched, so wait for its QMP
    /// socket, within the launch timeout counted from the launch; a process past that is killed, as the launch itself
    /// would have done.
    /// </summary>
    private async Task AwaitLaunchInFlightAsync(InstanceRecord record, VmPaths paths, CancellationToken cancellationToken)
    {
        if (record.LauncherPid is not { } launcher || !Processes.IsAlive(launcher) || !IsProcessOf(launcher, paths) || File.Exists(paths.QmpSocket))
        {
            return;
        }

        LogLaunchInFlight(record.Vm, launcher);
        try
        {
            await AwaitMonitorSocketAsync(record.Vm, launcher, paths, record.LaunchedAt + _options.LaunchTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (HypervisorException)
        {
            if (Processes.IsAlive(launcher))
            {
                await Processes.KillAndReapAsync(launcher, _options.QuitTimeout).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// How a process nobody watched ended. QEMU removes its pid file when it exits cleanly (the guest powered off or
    /// it was told to quit); a pid file naming a dead process means it was killed or crashed.
    /// </summary>
    private static async Task<ExitRecord> DescribeExitWhileDetachedAsync(InstanceRecord record, VmPaths paths)
    {
        var now = DateTimeOffset.UtcNow;
        if (record.Cgroup is { } relative && VmCgroup.Existing(relative) is { } cgroup && cgroup.OomKills() > 0)
        {
            var limit = cgroup.MemoryLimitBytes is { } bytes ? $" ({bytes >> 20} MiB)" : "";
            cgroup.TryRemove();
            return new ExitRecord(ProcessPower.Crashed, $"QEMU ran out of memory: killed by the memory limit of its cgroup{limit} while no host agent was attached", now);
        }

        // The pid file is QEMU's (in its run directory): only whether it is still there is used, and only for the
        // VM's own exit reason; the pid is the one the launcher reported, recorded by the driver.
        if (FileSystem.Lstat(paths.PidFile) is null || PidOf(record, paths) is not { } pid)
        {
            return new ExitRecord(ProcessPower.ShutDown, "QEMU shut down while no host agent was attached (its pid file is gone)", now);
        }

        if (Processes.IsAlive(pid))
        {
            return new ExitRecord(ProcessPower.Crashed, $"QEMU exited while no host agent was attached (pid {pid} now belongs to another process)", now);
        }

        // If it was our child (this process was its subreaper), collect the zombie and learn how it died. The pid is the
        // launcher's report (root's record), never the pid file's content: a QEMU cannot make the driver reap another's child.
        var how = record.LauncherPid == pid ? await Processes.ReapAsync(pid, TimeSpan.FromSeconds(2)).ConfigureAwait(false) : null;
        return new ExitRecord(ProcessPower.Crashed, $"QEMU pid {pid} exited while no host agent was attached ({how ?? "killed or crashed"})", now);
    }

    /// <summary>
    /// Guards against pid reuse: the process must carry this VM's name and instance id on its command line and, for a
    /// confined launch, run as the instance's uid.
    /// </summary>
    private static bool IsOurProcess(int pid, InstanceRecord record)
    {
        var arguments = Processes.Arguments(pid);
        return arguments.Contains($"guest={record.Vm},debug-threads=on") && arguments.Contains(record.InstanceId.ToString("D"))
            && (record.Uid is not { } uid || Processes.Uid(pid) == uid);
    }

    /// <summary>
    /// Starts QEMU through its launcher (<see cref="QemuLauncher"/>) and returns its pid, which the launcher's shell
    /// prints before it joins the cgroup and execs on (so the pid stays QEMU's). The setsid the .NET process runs
    /// forks and exits at once: QEMU is re-parented to this process, its subreaper, and reaped by its monitor.
    /// </summary>
    private async Task<int> StartConfinedAsync(InstanceRecord record, VmPaths paths, VmCgroup cgroup, CancellationToken cancellationToken)
    {
        var vm = record.Vm;
        var startInfo = new ProcessStartInfo(QemuLauncher.Setsid)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var arguments = QemuLauncher.Arguments(_options.QemuBinary, record.Arguments, record.Uid!.Value, _gid, paths.QemuLog, cgroup.ProcsFiles, _options.NetworkNamespace);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': could not start {QemuLauncher.Setsid}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': cannot run {QemuLauncher.Setsid}: {ex.Message}", ex);
        }

        using (process)
        {
            // The pipes close when the shell execs with its stdio on qemu.log (or exits, having failed).
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            try
            {
                await Task.WhenAll(stdout, stderr, process.WaitForExitAsync(cancellationToken)).WaitAsync(_options.LaunchTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': the QEMU launcher did not start within {_options.LaunchTimeout.TotalSeconds:0} s");
            }

            var output = (await stdout.ConfigureAwait(false)).Trim();
            var errors = (await stderr.ConfigureAwait(false)).Trim();
            if (!int.TryParse(output.Split('\n')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': the QEMU launcher failed (exit code {process.ExitCode}): {Quote(errors)}");
            }

            // A driver that takes over mid-launch (this silo died) must know a launch is on its way.
            (record with { LauncherPid = pid }).Write(paths.InstanceFile);
            if (errors.Length > 0)
            {
                await Processes.KillAndReapAsync(pid, _options.QuitTimeout).ConfigureAwait(false);
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': the QEMU launcher failed: {Quote(errors)}");
            }

            return pid;
        }
    }

    /// <summary>
    /// Waits until QEMU serves its QMP socket (it then initialised its devices and opened every file it was given), or
    /// until it exits, which is reported with the end of its <c>qemu.log</c>.
    /// </summary>
    private async Task AwaitMonitorSocketAsync(string vm, int pid, VmPaths paths, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        // The socket's file appears at bind(), a moment before QEMU listens on it: until then a connection is refused.
        while (!await MonitorListensAsync(paths.QmpSocket, cancellationToken).ConfigureAwait(false))
        {
            if (!Processes.IsAlive(pid))
            {
                var how = await Processes.ReapAsync(pid, ExitPollInterval * 20).ConfigureAwait(false);
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU exited ({how ?? "ended"}) before its monitor came up{QemuLogTail(paths)}");
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU did not initialise within {_options.LaunchTimeout.TotalSeconds:0} s{QemuLogTail(paths)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether QEMU accepts connections on its QMP socket yet (a probe it sees as a client that left at once).</summary>
    private static async Task<bool> MonitorListensAsync(string socketPath, CancellationToken cancellationToken)
    {
        if (!File.Exists(socketPath))
        {
            return false;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            return false;
        }
    }

    /// <summary>The end of QEMU's own log, to explain a failed start (": …"), or nothing.</summary>
    private static string QemuLogTail(VmPaths paths)
    {
        try
        {
            using var log = FileSystem.OpenNoFollow(paths.QemuLog);
            using var stream = new FileStream(log, FileAccess.Read);
            var length = stream.Length;
            stream.Seek(Math.Max(0, length - QemuLogQuote), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd().Trim();
            return text.Length == 0 ? "" : ": " + text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SystemCallException)
        {
            return "";
        }
    }

    /// <summary>Guest image files: root's, readable by group fabric-qemu (every VM's QEMU) and nobody else (0640).</summary>
    private static void GiveImagesToGroup(IEnumerable<GuestImage> images, string imagesDirectory, int gid)
    {
        foreach (var file in images.SelectMany(image => new[] { image.Disk, image.Kernel, image.Initrd }).OfType<string>().Select(Path.GetFullPath).Distinct(StringComparer.Ordinal))
        {
            if (file.StartsWith(imagesDirectory + "/", StringComparison.Ordinal) && FileSystem.Lstat(file) is { Kind: FileKind.Regular })
            {
                Ownership.Set(file, 0, gid, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            }
        }
    }

    private static string Quote(string text) => text.Length > 800 ? text[..800] + "…" : text;

    /// <summary>A uid no process runs as and no VM's run (or older VM) directory is owned by (<see cref="VmUids"/>).</summary>
    private int AllocateUid(Guid instanceId)
    {
        var taken = VmUids.OfRunningProcesses();
        foreach (var folder in new[] { "vms", "run" })
        {
            foreach (var directory in Directory.EnumerateDirectories(Path.Combine(_options.DataDirectory, folder)))
            {
                if (Ownership.Of(directory) is { } owner)
                {
                    taken.Add(owner.Uid);
                }
            }
        }

        return VmUids.Allocate(instanceId, _options.VmUidBase, _options.VmUidCount, taken.Contains);
    }

    /// <summary>
    /// For what a running VM's QEMU must open beyond its launch (e.g. a migration's TLS files, copied into a directory
    /// root made): gives <paramref name="path"/> itself (never a symlink's target) to the VM's uid and group
    /// fabric-qemu with <paramref name="mode"/>.
    /// </summary>
    internal void GiveToVm(string vm, string path, UnixFileMode mode)
    {
        var qemu = Require(vm);
        if (qemu.Uid is not { } uid || !qemu.Status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' has no running confined process to give '{path}' to");
        }

        Ownership.Set(path, uid, _gid, mode);
    }

    /// <summary>
    /// Hands the VM what its QEMU must open, and only that: its socket directory (0700; the VM directory stays root's,
    /// its console log was made the VM's by <see cref="ConsoleLog.StartFresh"/>), its disks (0600) and its taps. Done as
    /// the last step before the start, when no process of the new uid exists yet.
    /// </summary>
    private void GiveLaunchFilesToVm(VmPaths paths, int uid, LaunchSpec spec)
    {
        Ownership.Set(paths.RunDirectory, uid, _gid, OwnerOnly);

        // The log is the launcher's (root's) file, created anew so no link an earlier process left can redirect it.
        FileSystem.CreateExclusive(paths.QemuLog);
        foreach (var disk in spec.Disks)
        {
            GiveDisk(disk, uid);
        }

        foreach (var nic in spec.Nics)
        {
            TapOwner.Give(nic.Tap, uid, _options.NetworkNamespace);
        }
    }

    private void GiveDisk(DiskSpec disk, int uid) =>
        Ownership.Set(disk.Path, uid, _gid, UnixFileMode.UserRead | UnixFileMode.UserWrite);

    /// <summary>A disk given back to root once no process of the VM holds it.</summary>
    private void TakeDiskBack(DiskSpec disk)
    {
        if (Ownership.Of(disk.Path) is { Uid: >= 1 } owner && owner.Uid >= _options.VmUidBase && owner.Uid - _options.VmUidBase < _options.VmUidCount)
        {
            Ownership.Set(disk.Path, 0, 0, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>The files of a launch must be plain files in allowed places (<see cref="Ownership.EnsurePlainFile"/>).</summary>
    private void EnsureAllowedFiles(LaunchSpec spec, GuestImage image)
    {
        foreach (var disk in spec.Disks)
        {
            EnsureAllowedDisk(disk);
        }

        foreach (var file in new[] { image.Disk, image.Kernel, image.Initrd }.OfType<string>())
        {
            if (!Path.GetFullPath(file).StartsWith(_options.ImagesDirectory + "/", StringComparison.Ordinal))
            {
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"image '{image.Name}': '{file}' is outside the images directory");
            }
        }
    }

    /// <summary>
    /// A disk must lie directly in the <c>volumes/</c> folder of a storage pool of this host (<see cref="Volumes.VolumeStore.IsVolumeFolder"/>)
    /// or in one of <see cref="QemuDriverOptions.DiskRoots"/>, and be a plain file there: the file is given to the VM's uid.
    /// </summary>
    private void EnsureAllowedDisk(DiskSpec disk)
    {
        disk.EnsureValid();
        var folder = Path.GetDirectoryName(disk.Path);
        if (!Path.IsPathFullyQualified(disk.Path) || folder is null || !(_volumes.IsVolumeFolder(folder) || _options.DiskRoots.Contains(folder, StringComparer.Ordinal)))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                $"disk {disk.Slot} '{disk.Path}' is not in the volumes folder of a storage pool of this host: refused before QEMU could open it");
        }

        Ownership.EnsurePlainFile(disk.Path, $"disk {disk.Slot}", [.. new[] { "vms", "run", SnapshotsFolder }.Select(f => Path.Combine(_options.DataDirectory, f))]);
    }

    /// <summary>The VM's cgroup limits: its vCPUs, its RAM plus QEMU's overhead (<see cref="QemuMemoryOverhead"/>), bounded tasks.</summary>
    private CgroupLimits Limits(LaunchSpec spec) =>
        new(spec.VCpus, _options.MemoryLimitOverrideMiB ?? spec.MemoryMiB + QemuMemoryOverhead.MiB(spec.VCpus, spec.MemoryMiB), _options.PidsLimit);

    /// <summary>Whether <paramref name="pid"/> is a QEMU started for these paths (its command line names the pid file).</summary>
    private static bool IsProcessOf(int pid, VmPaths paths) => Processes.Arguments(pid).Contains(paths.PidFile);

    /// <summary>Reaps zombie QEMU children of ours that no monitor watches (monitors reap their own, learning how it ended).</summary>
    private void ReapLeftovers() =>
        Processes.ReapZombieChildren([Path.GetFileName(_options.QemuBinary), DefaultQemuCommand], QemuVm.WatchedPids);

    /// <summary>
    /// The pid of a record's process: the one its launcher reported (root's record); for a record without one (the
    /// driver died before writing it), QEMU's pid file — untrusted, so read without following a symlink, at most a few
    /// bytes, and only used behind <see cref="IsOurProcess"/>.
    /// </summary>
    private static int? PidOf(InstanceRecord record, VmPaths paths) => record.LauncherPid ?? ReadPid(paths.PidFile);

    private static int? ReadPid(string pidFile)
    {
        try
        {
            using var handle = FileSystem.OpenNoFollow(pidFile);
            if (FileSystem.Fstat(handle, pidFile).Kind != FileKind.Regular)
            {
                return null;
            }

            var buffer = new byte[16];
            var count = RandomAccess.Read(handle, buffer, 0);
            var text = System.Text.Encoding.ASCII.GetString(buffer, 0, count).Trim();
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 1 ? pid : null;
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
