using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One physical host, keyed by host id and pinned to the silo that serves that host id: it owns the local hypervisor
/// driver, the reservations of the VMs placed here and their processes. When that silo is absent every call fails
/// with <c>unavailable</c>; the grain never activates anywhere else.
/// Calls flow into hosts from VMs and the scheduler; a host calls VMs only one-way (<see cref="IVmGrain.Observe"/>)
/// and the scheduler only one-way (<see cref="ISchedulerGrain.ReportHost"/>), so no call cycle can deadlock.
/// </summary>
[Alias("fabric.IHostGrain")]
public interface IHostGrain : IGrainWithStringKey
{
    /// <summary>The host with the VMs placed on it.</summary>
    [AlwaysInterleave, Alias("GetInfo")]
    Task<HostInfo> GetInfo();

    /// <summary>
    /// Atomically reserves capacity for a VM, or throws <c>insufficient-capacity</c> (no room, cordoned, anti-affinity
    /// group already here) or <c>invalid-spec</c> (unknown image). Idempotent for the same VM and request.
    /// Returns the host's summary after the reservation.
    /// </summary>
    [Alias("Reserve")]
    Task<HostInfo> Reserve(VmReservation reservation);

    /// <summary>Releases a VM's reservation and removes its runtime files; throws <c>conflict</c> while its process runs.</summary>
    [Alias("Release")]
    Task Release(string vm);

    /// <summary>Launches a process for a reserved VM; returns once the process runs.</summary>
    [Alias("Launch")]
    Task<VmObservation> Launch(string vm, Guid instanceId);

    [Alias("Pause")]
    Task<VmObservation> Pause(string vm, Guid instanceId);

    [Alias("Resume")]
    Task<VmObservation> Resume(string vm, Guid instanceId);

    [Alias("Reset")]
    Task<VmObservation> Reset(string vm, Guid instanceId);

    /// <summary>Begins stopping a VM's process; the outcome arrives at the VM as an observation.</summary>
    [Alias("Stop")]
    Task<VmObservation> Stop(string vm, Guid instanceId, StopOptions options);

    /// <summary>What the host sees of the VM's process right now.</summary>
    [AlwaysInterleave, Alias("Observe")]
    Task<VmObservation> Observe(string vm);

    [AlwaysInterleave, Alias("ReadConsole")]
    Task<ConsoleChunk> ReadConsole(string vm, long offset, int maxBytes, TimeSpan wait);

    [AlwaysInterleave, Alias("SendConsole")]
    Task SendConsole(string vm, Guid instanceId, string text);

    /// <summary>Stops placing new VMs here (running VMs stay).</summary>
    [Alias("Cordon")]
    Task<HostInfo> Cordon();

    [Alias("Uncordon")]
    Task<HostInfo> Uncordon();

    /// <summary>Called by the host's own runtime event pump when a process changes state (one-way).</summary>
    [OneWay, Alias("ReportRuntime")]
    Task ReportRuntime(string vm, VmObservation observation);
}
