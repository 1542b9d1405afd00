using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One physical host, keyed by host id and pinned to the silo running on that host: it owns the local hypervisor
/// driver, the reservations of the VMs placed here and their processes. When that silo is absent every call fails
/// with <c>unavailable</c>; the grain never activates anywhere else.
/// </summary>
[Alias("fabric.IHostGrain")]
public interface IHostGrain : IGrainWithStringKey
{
    [AlwaysInterleave, Alias("GetInfo")]
    Task<HostInfo> GetInfo();

    /// <summary>Atomically reserves capacity for a VM, or throws <c>insufficient-capacity</c> / <c>invalid-spec</c>.</summary>
    [Alias("Reserve")]
    Task Reserve(VmReservation reservation);

    /// <summary>Releases a VM's reservation and removes its runtime files; its process must be gone.</summary>
    [Alias("Release")]
    Task Release(string vm);

    [Alias("Launch")]
    Task<VmObservation> Launch(VmLaunchRequest request);

    [Alias("Pause")]
    Task<VmObservation> Pause(string vm, Guid instanceId);

    [Alias("Resume")]
    Task<VmObservation> Resume(string vm, Guid instanceId);

    [Alias("Reset")]
    Task<VmObservation> Reset(string vm, Guid instanceId);

    /// <summary>Begins stopping a VM's process; the outcome arrives as an observation.</summary>
    [Alias("Stop")]
    Task Stop(string vm, Guid instanceId, StopOptions options);

    /// <summary>What the host sees of the VM's process right now.</summary>
    [AlwaysInterleave, Alias("Observe")]
    Task<VmObservation> Observe(string vm);

    [AlwaysInterleave, Alias("ReadConsole")]
    Task<ConsoleChunk> ReadConsole(string vm, long offset, int maxBytes, TimeSpan wait);

    [AlwaysInterleave, Alias("SendConsole")]
    Task SendConsole(string vm, string text);

    /// <summary>Called by the host's own runtime event pump when a process changes state.</summary>
    [Alias("ReportRuntime")]
    Task ReportRuntime(string vm, Guid instanceId, RuntimePower power, string? reason);
}
