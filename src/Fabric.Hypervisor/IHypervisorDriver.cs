using System.Threading.Channels;

namespace Fabric.Hypervisor;

/// <summary>
/// Drives the VM processes of one machine. Lifecycle calls for one VM are made one at a time by its owner (the host
/// grain); reads may run concurrently. Outcomes that happen on their own (a guest powering off, a crash) arrive on
/// <see cref="Events"/>.
/// </summary>
public interface IHypervisorDriver : IAsyncDisposable
{
    /// <summary><c>qemu</c>, or <c>simulated</c> for the fleet-scale simulation.</summary>
    string Kind { get; }

    HostFacts Facts { get; }

    /// <summary>The guest images this machine can boot, by name.</summary>
    IReadOnlyDictionary<string, GuestImage> Images { get; }

    /// <summary>Process state changes the driver observed, in order per VM.</summary>
    ChannelReader<ProcessEvent> Events { get; }

    /// <summary>Finds the processes this driver started before (e.g. before a silo restart) and re-attaches to them.</summary>
    Task<IReadOnlyList<ProcessStatus>> AttachAllAsync(CancellationToken cancellationToken);

    /// <summary>Starts a process for <paramref name="spec"/>; returns when it runs, or throws <see cref="HypervisorException"/>.</summary>
    Task<ProcessStatus> LaunchAsync(LaunchSpec spec, CancellationToken cancellationToken);

    /// <summary>What the driver knows of the VM's process (<see cref="ProcessPower.Absent"/> when there is none).</summary>
    ProcessStatus GetStatus(string vm);

    Task<ProcessStatus> PauseAsync(string vm, CancellationToken cancellationToken);

    Task<ProcessStatus> ResumeAsync(string vm, CancellationToken cancellationToken);

    /// <summary>Resets the machine: the guest reboots in the same process.</summary>
    Task<ProcessStatus> ResetAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// Begins stopping the process and returns; the exit arrives on <see cref="Events"/>. Graceful: ACPI power-down,
    /// after <see cref="StopRequest.GracePeriod"/> quit, then kill. Forced: quit, then kill.
    /// </summary>
    Task StopAsync(string vm, StopRequest request, CancellationToken cancellationToken);

    /// <summary>Reads the serial console log from <paramref name="offset"/>, waiting up to <paramref name="wait"/> for output.</summary>
    Task<ConsoleRead> ReadConsoleAsync(string vm, long offset, int maxBytes, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="data"/> to the guest's serial console input.</summary>
    Task SendConsoleAsync(string vm, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Forgets a VM whose process is gone and deletes its runtime files.</summary>
    Task RemoveAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>The machine as the driver sees it.</summary>
/// <param name="Cpus">Logical CPUs of the machine.</param>
/// <param name="MemoryMiB">Memory of the machine.</param>
/// <param name="Accelerator"><c>kvm</c> or <c>tcg</c> (or <c>simulated</c>).</param>
/// <param name="AcceleratorReason">Why that accelerator was chosen.</param>
/// <param name="HypervisorVersion">E.g. the QEMU version.</param>
public sealed record HostFacts(int Cpus, long MemoryMiB, string Accelerator, string AcceleratorReason, string HypervisorVersion);

/// <summary>What to launch.</summary>
public sealed record LaunchSpec(string Vm, Guid InstanceId, int VCpus, int MemoryMiB, string Image);

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

/// <summary>A VM process's state.</summary>
public sealed record ProcessStatus(string Vm, Guid InstanceId, ProcessPower Power, int? Pid, string? Reason)
{
    public static ProcessStatus Absent(string vm) => new(vm, Guid.Empty, ProcessPower.Absent, null, null);

    public bool IsAlive => Power is ProcessPower.Running or ProcessPower.Paused;
}

/// <summary>A change of a VM process's state that the driver observed.</summary>
public sealed record ProcessEvent(ProcessStatus Status, DateTimeOffset At);

/// <summary>How to stop a process.</summary>
public sealed record StopRequest(bool Force, TimeSpan GracePeriod);

/// <summary>Bytes of a console log, where they start, where the next read starts, and which process wrote them.</summary>
public sealed record ConsoleRead(byte[] Data, long Offset, long NextOffset, Guid InstanceId);
