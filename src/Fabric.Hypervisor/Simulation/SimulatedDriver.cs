using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;

namespace Fabric.Hypervisor.Simulation;

/// <summary>Settings of the simulation.</summary>
public sealed class SimulatedDriverOptions
{
    /// <summary>The CPUs the simulated machine claims to have.</summary>
    public int Cpus { get; set; } = 64;

    /// <summary>The memory the simulated machine claims to have.</summary>
    public long MemoryMiB { get; set; } = 256 * 1024;

    /// <summary>How long a simulated launch takes.</summary>
    public TimeSpan LaunchLatency { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// The memory the simulation charges per VM beyond its RAM: none by default (no process exists), so simulated
    /// fleets fit exactly what their sizes say; a test of the overhead's accounting sets one.
    /// </summary>
    public MemoryOverheadFormula MemoryOverhead { get; set; } = new(0, 0, 0);
}

/// <summary>
/// A SIMULATION of a hypervisor for fleet-scale tests and benchmarks only: no process and no guest exist, VMs are entries
/// in memory that follow the same state rules as the QEMU driver (launch, pause, resume, reset, graceful and forced stop,
/// events). It never stands in for a real-QEMU test of the same behaviour. Its simulated VMs do not survive the silo
/// process, as if the host had rebooted.
/// </summary>
public sealed class SimulatedDriver(SimulatedDriverOptions options) : IHypervisorDriver, IGuestConsole
{
    private static readonly IReadOnlyDictionary<string, GuestImage> SimulatedImages = new Dictionary<string, GuestImage>(StringComparer.Ordinal)
    {
        ["tiny"] = new("tiny", GuestBoot.Disk, null, null, null, null, 2, "simulated tiny guest"),
        ["linux"] = new("linux", GuestBoot.Kernel, null, null, null, null, 128, "simulated linux guest"),
    };

    private readonly ConcurrentDictionary<string, ProcessStatus> _vms = new(StringComparer.Ordinal);
    private readonly Channel<ProcessEvent> _events = Channel.CreateUnbounded<ProcessEvent>(new UnboundedChannelOptions { SingleReader = true });
    private int _nextPid = 1_000_000;

    public string Kind => "simulated";

    public HostFacts Facts { get; } = new(options.Cpus, options.MemoryMiB, "simulated", "simulation: no guest runs on this host", "simulation");

    /// <summary>SIMULATED: the options' formula (none by default), not a measured one.</summary>
    public MemoryOverheadFormula MemoryOverhead => options.MemoryOverhead;

    public IReadOnlyDictionary<string, GuestImage> Images => SimulatedImages;

    public ChannelReader<ProcessEvent> Events => _events.Reader;

    public Task<IReadOnlyList<ProcessStatus>> AttachAllAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<ProcessStatus>>([]);

    public async Task<ProcessStatus> LaunchAsync(LaunchSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!Images.TryGetValue(spec.Image, out var image))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"unknown image '{spec.Image}'");
        }

        if (spec.MemoryMiB < image.MinMemoryMiB)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"image '{image.Name}' needs at least {image.MinMemoryMiB} MiB of memory");
        }

        if (_vms.TryGetValue(spec.Vm, out var existing) && existing.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{spec.Vm}' already has a running (simulated) process");
        }

        if (options.LaunchLatency > TimeSpan.Zero)
        {
            await Task.Delay(options.LaunchLatency, cancellationToken).ConfigureAwait(false);
        }

        var status = new ProcessStatus(spec.Vm, spec.Epoch, spec.InstanceId, ProcessPower.Running, Interlocked.Increment(ref _nextPid), null);
        _vms[spec.Vm] = status;
        return status;
    }

    public ProcessStatus GetStatus(string vm) => _vms.TryGetValue(vm, out var status) ? status : ProcessStatus.Absent(vm);

    public IReadOnlyList<ProcessStatus> List() => [.. _vms.Values];

    public Task<ProcessStatus> PauseAsync(string vm, CancellationToken cancellationToken) => Task.FromResult(Set(vm, ProcessPower.Paused, null));

    public Task<ProcessStatus> ResumeAsync(string vm, CancellationToken cancellationToken) => Task.FromResult(Set(vm, ProcessPower.Running, null));

    public Task<ProcessStatus> ResetAsync(string vm, CancellationToken cancellationToken) => Task.FromResult(Set(vm, ProcessPower.Running, "reset by the host"));

    public Task StopAsync(string vm, StopRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var stopped = Set(vm, ProcessPower.ShutDown, request.Force ? "stopped by the host (forced)" : "guest powered off") with { Pid = null };
        _events.Writer.TryWrite(new ProcessEvent(stopped, DateTimeOffset.UtcNow));
        return Task.CompletedTask;
    }

    public Task<ConsoleRead> ReadConsoleAsync(string vm, long offset, int maxBytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        var status = GetStatus(vm);
        var text = status.Power == ProcessPower.Absent ? [] : Encoding.UTF8.GetBytes($"fabric-guest ready boot={status.InstanceId.ToString("N")[..8]} (simulated)\n");
        var start = (int)Math.Clamp(offset, 0, text.Length);
        var data = text.AsSpan(start, Math.Min(maxBytes, text.Length - start)).ToArray();
        return Task.FromResult(new ConsoleRead(data, start, start + data.Length, status.InstanceId));
    }

    public Task SendConsoleAsync(string vm, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Require(vm);
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string vm, CancellationToken cancellationToken)
    {
        if (_vms.TryGetValue(vm, out var status) && status.IsAlive)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' still has a running (simulated) process");
        }

        _vms.TryRemove(vm, out _);
        return Task.CompletedTask;
    }

    /// <summary>Simulates a crash of the VM's process (for tests of failure handling).</summary>
    public void Crash(string vm, string reason)
    {
        var crashed = Set(vm, ProcessPower.Crashed, reason) with { Pid = null };
        _events.Writer.TryWrite(new ProcessEvent(crashed, DateTimeOffset.UtcNow));
    }

    public ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }

    private ProcessStatus Require(string vm) =>
        _vms.TryGetValue(vm, out var status) && status.IsAlive
            ? status
            : throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}' has no running (simulated) process");

    private ProcessStatus Set(string vm, ProcessPower power, string? reason)
    {
        var updated = Require(vm) with { Power = power, Reason = reason };
        _vms[vm] = updated;
        return updated;
    }
}
