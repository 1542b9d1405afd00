using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// One VM, keyed by its name: the single writer of the VM's record (spec, placement, lifecycle state).
/// Calls flow VM → scheduler → host and VM → host only; hosts report back through the one-way <see cref="Observe"/>,
/// so no call cycle can deadlock.
/// </summary>
[Alias("fabric.IVmGrain")]
public interface IVmGrain : IGrainWithStringKey
{
    /// <summary>Validates the spec, places the VM and reserves its capacity on a host. Leaves nothing behind on failure.</summary>
    [Alias("Create")]
    Task<VmInfo> Create(VmSpec spec);

    /// <summary>Launches the VM's process on its host; returns once the process runs (or the start failed).</summary>
    [Alias("Start")]
    Task<VmInfo> Start();

    /// <summary>Begins stopping the VM and returns in Stopping; the host reports Stopped when the process is gone.</summary>
    [Alias("Stop")]
    Task<VmInfo> Stop(StopOptions options);

    [Alias("Pause")]
    Task<VmInfo> Pause();

    [Alias("Resume")]
    Task<VmInfo> Resume();

    /// <summary>Resets the guest (a new boot in the same process).</summary>
    [Alias("Reboot")]
    Task<VmInfo> Reboot();

    /// <summary>Deletes a VM that is not running (or, with <see cref="DeleteOptions.Force"/>, any VM) and releases its reservation.</summary>
    [Alias("Delete")]
    Task Delete(DeleteOptions options);

    /// <summary>The VM, or <c>not-found</c>.</summary>
    [AlwaysInterleave, Alias("Get")]
    Task<VmInfo> Get();

    /// <summary>Completes when the VM reaches one of <paramref name="states"/>, or with its current state after <paramref name="timeout"/>.</summary>
    [AlwaysInterleave, Alias("WaitFor")]
    Task<VmInfo> WaitFor(VmState[] states, TimeSpan timeout);

    /// <summary>Reads the serial console log from <paramref name="offset"/>, waiting up to <paramref name="wait"/> for new output.</summary>
    [AlwaysInterleave, Alias("ReadConsole")]
    Task<ConsoleChunk> ReadConsole(long offset, int maxBytes, TimeSpan wait);

    /// <summary>Types <paramref name="text"/> into the guest's serial console.</summary>
    [AlwaysInterleave, Alias("SendConsole")]
    Task SendConsole(string text);

    /// <summary>
    /// What a host holds for this VM, on a change or in its regular digest (one-way: a host never waits on a VM). The VM
    /// settles its record from it, and answers a host whose placement is superseded with <see cref="IHostGrain.Fence"/>.
    /// </summary>
    [OneWay, Alias("Observe"), HostInternal]
    Task Observe(VmObservation observation);

    /// <summary>
    /// From the VM's migration coordinator: the VM becomes Migrating (it must be Running or Paused with nothing under
    /// way and its host up); returns what the coordinator needs to move it. Idempotent for the same migration.
    /// </summary>
    [Alias("BeginMigration"), HostInternal]
    Task<MigrationSource> BeginMigration(string migration);

    /// <summary>
    /// Records the migration's phase and, once chosen, its target epoch (before anything is reserved under it, so the
    /// target's reports are expected rather than fenced) and host.
    /// </summary>
    [Alias("UpdateMigration"), HostInternal]
    Task UpdateMigration(string migration, MigrationPhase phase, long targetEpoch, string? targetHost);

    /// <summary>The switch-over: the VM's placement becomes the target's (host and epoch), persisted; the source is superseded.</summary>
    [Alias("CommitMigration"), HostInternal]
    Task CommitMigration(string migration, string targetHost, long targetEpoch);

    /// <summary>The migration is over: the VM settles from what its (possibly new) host reports. Idempotent.</summary>
    [Alias("EndMigration"), HostInternal]
    Task<VmInfo> EndMigration(string migration, string? reason);

    /// <summary>The catalog auditor found this VM's catalog row missing, stale or without a record: rewrite or remove it (one-way).</summary>
    [OneWay, Alias("Audit"), HostInternal]
    Task Audit();
}
