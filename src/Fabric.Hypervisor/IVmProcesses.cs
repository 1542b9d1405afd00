using System.Threading.Channels;

namespace Fabric.Hypervisor;

/// <summary>
/// The VM processes of one machine: launch, watch, pause, resume, reset, stop, and find again after a restart of the
/// control plane. Lifecycle calls for one VM are made one at a time by its owner (the host grain); reads may run
/// concurrently. Changes that happen on their own (a guest powering off, a crash) are announced on
/// <see cref="Events"/>.
/// </summary>
public interface IVmProcesses
{
    /// <summary>Process state changes the driver observed, in order per VM.</summary>
    ChannelReader<ProcessEvent> Events { get; }

    /// <summary>
    /// Finds the processes this driver started before (e.g. before a silo restart) and re-attaches to them; a launch
    /// a previous driver left in flight is waited for, so it is found running or found ended, never missed.
    /// </summary>
    Task<IReadOnlyList<ProcessStatus>> AttachAllAsync(CancellationToken cancellationToken);

    /// <summary>Starts a process for <paramref name="spec"/>; returns when it runs, or throws <see cref="HypervisorException"/>.</summary>
    Task<ProcessStatus> LaunchAsync(LaunchSpec spec, CancellationToken cancellationToken);

    /// <summary>What the driver knows of the VM's process (<see cref="ProcessPower.Absent"/> when there is none).</summary>
    ProcessStatus GetStatus(string vm);

    /// <summary>Every VM process the driver knows, alive or ended (ended ones until <see cref="RemoveAsync"/>).</summary>
    IReadOnlyList<ProcessStatus> List();

    Task<ProcessStatus> PauseAsync(string vm, CancellationToken cancellationToken);

    Task<ProcessStatus> ResumeAsync(string vm, CancellationToken cancellationToken);

    /// <summary>Resets the machine: the guest reboots in the same process.</summary>
    Task<ProcessStatus> ResetAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// Begins stopping the process and returns; the exit arrives on <see cref="Events"/>. Graceful: ACPI power-down,
    /// after <see cref="StopRequest.GracePeriod"/> quit, then kill. Forced: quit, then kill. Asking again while a stop
    /// runs is harmless, and a forced request cuts a graceful one short.
    /// </summary>
    Task StopAsync(string vm, StopRequest request, CancellationToken cancellationToken);

    /// <summary>Forgets a VM whose process is gone and deletes its runtime files.</summary>
    Task RemoveAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>A VM's serial console: its output log and its input.</summary>
public interface IGuestConsole
{
    /// <summary>Reads the serial console log from <paramref name="offset"/>, waiting up to <paramref name="wait"/> for output.</summary>
    Task<ConsoleRead> ReadConsoleAsync(string vm, long offset, int maxBytes, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="data"/> to the guest's serial console input.</summary>
    Task SendConsoleAsync(string vm, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
}

/// <summary>
/// What to launch: the VM, the placement epoch it runs under (recorded beside the process, so a host can tell a
/// superseded process from a current one), and the instance id that names this process.
/// </summary>
public sealed record LaunchSpec(string Vm, long Epoch, Guid InstanceId, int VCpus, int MemoryMiB, string Image)
{
    /// <summary>
    /// The target of a live migration: the process starts paused, waiting for the source's stream (see
    /// <see cref="ILiveMigration"/>), instead of booting the guest.
    /// </summary>
    public bool Incoming { get; init; }

    /// <summary>The VM's disks, by slot (none: a VM without writable storage).</summary>
    public System.Collections.Immutable.ImmutableArray<DiskSpec> Disks { get; init; } = [];

    /// <summary>The VM's network interfaces, by slot (none: a VM without a NIC). Their taps must exist before the launch.</summary>
    public System.Collections.Immutable.ImmutableArray<NicSpec> Nics { get; init; } = [];
}

public enum ProcessPower
{
    Running,
    Paused,

    /// <summary>Exited after a shutdown: the guest powered off, or the host quit it on request.</summary>
    ShutDown,

    /// <summary>Exited without a shutdown: crashed, killed, or vanished while nobody watched.</summary>
    Crashed,

    /// <summary>No process known for this VM.</summary>
    Absent,
}

/// <summary>A VM process's state, with the placement epoch and instance id it was launched with.</summary>
public sealed record ProcessStatus(string Vm, long Epoch, Guid InstanceId, ProcessPower Power, int? Pid, string? Reason)
{
    public static ProcessStatus Absent(string vm) => new(vm, 0, Guid.Empty, ProcessPower.Absent, null, null);

    public bool IsAlive => Power is ProcessPower.Running or ProcessPower.Paused;
}

/// <summary>A change of a VM process's state that the driver observed.</summary>
public sealed record ProcessEvent(ProcessStatus Status, DateTimeOffset At);

/// <summary>How to stop a process.</summary>
public sealed record StopRequest(bool Force, TimeSpan GracePeriod);

/// <summary>Bytes of a console log, where they start, where the next read starts, and which process wrote them.</summary>
public sealed record ConsoleRead(byte[] Data, long Offset, long NextOffset, Guid InstanceId);
