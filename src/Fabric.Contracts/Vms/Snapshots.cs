using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// A VM's snapshots with memory (<c>vm snapshot create|list|restore|delete</c>), served by the VM's grain beside
/// <see cref="IVmGrain"/> (the same activation, keyed by the VM's name). A snapshot is taken while the guest keeps
/// running, lives on the host where it was taken, and is recorded on the VM's record (at most
/// <see cref="SnapshotLimits.MaxPerVm"/>).
/// </summary>
[Alias("fabric.IVmSnapshots")]
public interface IVmSnapshots : IGrainWithStringKey
{
    /// <summary>
    /// Takes a snapshot of the Running or Paused VM on its host and records it; returns it with the guest pause it
    /// caused. <c>invalid-spec</c> for a bad name, <c>conflict</c> for a duplicate name, a full list, or a VM in another
    /// state (Migrating included).
    /// </summary>
    [Alias("CreateSnapshot"), ResponseTimeout("00:10:00")]
    Task<SnapshotInfo> CreateSnapshot(string snapshot);

    /// <summary>The VM's snapshots, oldest first.</summary>
    [AlwaysInterleave, Alias("ListSnapshots")]
    Task<ImmutableArray<SnapshotInfo>> ListSnapshots();

    /// <summary>
    /// Returns the VM to the moment of the snapshot: a new instance of it is started from the snapshot on its host (the
    /// old process is stopped), running if the guest ran when it was taken, else paused. From Running, Paused, Stopped
    /// or Failed; the VM must still be placed on the host that holds the snapshot.
    /// </summary>
    [Alias("RestoreSnapshot"), ResponseTimeout("00:10:00")]
    Task<VmInfo> RestoreSnapshot(string snapshot);

    /// <summary>Deletes the snapshot's file on its host and forgets it.</summary>
    [Alias("DeleteSnapshot")]
    Task DeleteSnapshot(string snapshot);
}

/// <summary>
/// The host's side of snapshots, served by the host's grain beside <see cref="IHostGrain"/>. Files live under the
/// host's data directory in <c>snapshots/&lt;vm&gt;/</c>, apart from the VM's runtime files, so fencing or forgetting a
/// placement keeps them; they go with the VM (<see cref="DeleteSnapshots"/>).
/// </summary>
[Alias("fabric.IHostSnapshots"), HostInternal]
public interface IHostSnapshots : IGrainWithStringKey
{
    /// <summary>Writes a snapshot of the assignment's live process (its placement must be current and not migrating).</summary>
    [Alias("CreateSnapshot"), ResponseTimeout("00:10:00")]
    Task<SnapshotTaken> CreateSnapshot(VmAssignment assignment, string snapshot);

    /// <summary>
    /// Starts the assignment's (new) instance from the snapshot: the VM's old process is stopped (at once) and waited
    /// for, then the new instance is accepted in the ledger and launched as an incoming process that loads the file;
    /// resumed when <paramref name="resume"/>. Returns what the host then holds for the VM, as a launch does.
    /// </summary>
    [Alias("RestoreSnapshot"), ResponseTimeout("00:10:00")]
    Task<VmObservation> RestoreSnapshot(VmAssignment assignment, string snapshot, bool resume);

    /// <summary>Deletes one snapshot's file (nothing when it is gone already).</summary>
    [Alias("DeleteSnapshot")]
    Task DeleteSnapshot(string vm, string snapshot);

    /// <summary>Deletes every snapshot of the VM on this host, with their folder (the VM is being deleted).</summary>
    [Alias("DeleteSnapshots")]
    Task DeleteSnapshots(string vm);
}

/// <summary>Bounds on snapshots.</summary>
public static class SnapshotLimits
{
    /// <summary>The most snapshots one VM keeps (its record holds them all).</summary>
    public const int MaxPerVm = 32;
}

/// <summary>A snapshot as operators see it (<c>vm snapshot list -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.SnapshotInfo")]
public sealed record SnapshotInfo
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required string Vm { get; init; }

    /// <summary>The host that holds the snapshot's file; it can be restored only while the VM is placed there.</summary>
    [Id(2)]
    public required string Host { get; init; }

    [Id(3)]
    public DateTimeOffset CreatedAt { get; init; }

    [Id(4)]
    public long SizeBytes { get; init; }

    /// <summary>How long the guest's vCPUs stood still for it (QEMU's STOP to RESUME); null when the guest was paused.</summary>
    [Id(5)]
    public long? GuestPauseMs { get; init; }

    /// <summary>From the host's start of the snapshot to its complete file.</summary>
    [Id(6)]
    public long TotalMs { get; init; }

    /// <summary>Whether the guest ran when it was taken: a restore resumes it then, else leaves it Paused.</summary>
    [Id(7)]
    public bool WasRunning { get; init; }

    [Id(8)]
    public int MemoryMiB { get; init; }

    /// <summary><c>background-snapshot</c> or <c>pre-copy</c>: how QEMU wrote it.</summary>
    [Id(9)]
    public string Method { get; init; } = "";
}

/// <summary>What a host answers when it has taken a snapshot.</summary>
[GenerateSerializer, Immutable, Alias("fabric.SnapshotTaken")]
public sealed record SnapshotTaken
{
    [Id(0)]
    public long SizeBytes { get; init; }

    [Id(1)]
    public long? GuestPauseMs { get; init; }

    [Id(2)]
    public long TotalMs { get; init; }

    [Id(3)]
    public bool WasRunning { get; init; }

    [Id(4)]
    public string Method { get; init; } = "";

    /// <summary>
    /// What the host holds for the VM once the snapshot is done, stamped after any report of the pause: applied, it
    /// makes those earlier reports stale, so the VM never records the pause as Paused.
    /// </summary>
    [Id(5)]
    public required VmObservation Observation { get; init; }
}
