using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One physical host, keyed by host id and pinned to the silo that serves that host id: it owns the local hypervisor
/// driver, the ledger of the VMs placed here and their processes. When that silo is absent every call fails with
/// <c>unavailable</c>; the grain never activates anywhere else.
/// Calls flow into hosts from VMs and the scheduler; a host calls VMs only one-way (<see cref="IVmGrain.Observe"/>)
/// and the scheduler only one-way (<see cref="ISchedulerGrain.ReportHost"/>), so no call cycle can deadlock.
/// Every command about a VM carries its epoch; a host refuses any other epoch than the one its ledger holds with
/// <c>conflict</c>.
/// </summary>
[Alias("fabric.IHostGrain")]
public interface IHostGrain : IGrainWithStringKey
{
    /// <summary>The host with the VMs placed on it and the unmanaged processes it found.</summary>
    [AlwaysInterleave, Alias("GetInfo")]
    Task<HostInfo> GetInfo();

    /// <summary>
    /// Atomically reserves capacity for a VM at its epoch, or throws <c>insufficient-capacity</c> (no room, cordoned,
    /// anti-affinity group already here), <c>invalid-spec</c> (unknown image) or <c>conflict</c> (a process of that VM
    /// runs here that no newer placement may replace). Idempotent for the same VM, epoch and request.
    /// Returns the host's summary after the reservation.
    /// </summary>
    [Alias("Reserve"), HostInternal]
    Task<HostInfo> Reserve(VmReservation reservation);

    /// <summary>
    /// Releases the VM's reservation of <paramref name="epoch"/> and removes its runtime files; throws <c>conflict</c>
    /// while its process runs. Does nothing when the host holds another epoch (or none) for the VM.
    /// </summary>
    [Alias("Release"), HostInternal]
    Task Release(string vm, long epoch);

    /// <summary>
    /// The VM's placement of <paramref name="epoch"/> is superseded (deleted, placed elsewhere, or never recorded): stop
    /// its process at once and release the reservation once the process is gone. Persisted, so it completes after a
    /// restart. Does nothing when the host holds a newer epoch for the VM.
    /// </summary>
    [Alias("Fence"), HostInternal]
    Task Fence(string vm, long epoch, string reason);

    /// <summary>
    /// Launches a process of the assignment's instance; returns once it runs. The instance is written to the ledger
    /// before anything is started, so an interrupted launch is settled by what the host later reports.
    /// </summary>
    [Alias("Launch"), HostInternal]
    Task<VmObservation> Launch(VmAssignment assignment);

    [Alias("Pause"), HostInternal]
    Task<VmObservation> Pause(VmAssignment assignment);

    [Alias("Resume"), HostInternal]
    Task<VmObservation> Resume(VmAssignment assignment);

    [Alias("Reset"), HostInternal]
    Task<VmObservation> Reset(VmAssignment assignment);

    /// <summary>Begins stopping the assignment's process (a repeated call is harmless; a forced one cuts a graceful one short).</summary>
    [Alias("Stop"), HostInternal]
    Task<VmObservation> Stop(VmAssignment assignment, StopOptions options);

    /// <summary>What the host holds for the VM right now.</summary>
    [AlwaysInterleave, Alias("Observe"), HostInternal]
    Task<VmObservation> Observe(string vm);

    [AlwaysInterleave, Alias("ReadConsole"), HostInternal]
    Task<ConsoleChunk> ReadConsole(string vm, long offset, int maxBytes, TimeSpan wait);

    [AlwaysInterleave, Alias("SendConsole"), HostInternal]
    Task SendConsole(VmAssignment assignment, string text);

    /// <summary>Stops placing new VMs here (running VMs stay).</summary>
    [Alias("Cordon")]
    Task<HostInfo> Cordon();

    [Alias("Uncordon")]
    Task<HostInfo> Uncordon();

    /// <summary>
    /// Marks the VM's placement here as the source of <paramref name="migration"/>: true; false when the host already
    /// sends as many migrations as it may (the caller waits its turn). Idempotent for the same migration.
    /// </summary>
    [Alias("AcquireOutgoing"), HostInternal]
    Task<bool> AcquireOutgoing(VmAssignment assignment, string migration);

    /// <summary>
    /// Launches the assignment's instance paused and waiting for a migration stream (its reservation must be a
    /// migration's target), and opens its listener on the host's underlay address; returns the URI to send to.
    /// </summary>
    [Alias("PrepareIncoming"), HostInternal]
    Task<string> PrepareIncoming(VmAssignment assignment, MigrationStreamSettings settings);

    /// <summary>Has the assignment's process send itself to <paramref name="uri"/>.</summary>
    [Alias("SendMigration"), HostInternal]
    Task SendMigration(VmAssignment assignment, string uri, MigrationStreamSettings settings);

    /// <summary>How the VM's process of <paramref name="epoch"/> stands in its migration (status <c>absent</c> without one).</summary>
    [AlwaysInterleave, Alias("QueryMigration"), HostInternal]
    Task<MigrationSide> QueryMigration(string vm, long epoch);

    /// <summary>
    /// Waits up to <paramref name="wait"/> for the incoming migration of the VM's process of <paramref name="epoch"/> to
    /// end (received whole, failed, or the process gone), watching it closely: the switch-over starts as soon as the
    /// target holds the VM, not at the coordinator's next look.
    /// </summary>
    [AlwaysInterleave, Alias("AwaitIncoming"), HostInternal]
    Task<MigrationSide> AwaitIncoming(string vm, long epoch, TimeSpan wait);

    /// <summary>Cancels the outgoing migration and, with <paramref name="resume"/>, resumes a guest it left paused.</summary>
    [Alias("CancelMigration"), HostInternal]
    Task<MigrationSide> CancelMigration(VmAssignment assignment, bool resume);

    [Alias("StartPostcopy"), HostInternal]
    Task StartPostcopy(VmAssignment assignment);

    /// <summary>The migration is over for this side: its slot is free again (the placement stays, or is fenced apart).</summary>
    [Alias("EndMigration"), HostInternal]
    Task EndMigration(string vm, long epoch, string migration);

    /// <summary>
    /// Copies guest-physical memory of the assignment's running process into a file in the VM's runtime directory on
    /// this host and returns its path (for checks such as the memwalk guest's; pause the VM first for a consistent copy).
    /// </summary>
    [Alias("DumpGuestMemory")]
    Task<string> DumpGuestMemory(VmAssignment assignment, long address, long length);

    /// <summary>From the host's own driver pump: something changed for <paramref name="vm"/>'s process; look again (one-way).</summary>
    [OneWay, Alias("ProcessChanged"), HostInternal]
    Task ProcessChanged(string vm);
}
