namespace Fabric.Hypervisor;

/// <summary>
/// Snapshots of a VM's memory and device state, taken while the guest keeps running, and restored as a new process.
/// A snapshot is a file of QEMU's migration stream at a path the driver derives from the VM's and the snapshot's names
/// (always inside its data directory, never a path the caller chooses): <c>snapshots/&lt;vm&gt;/&lt;snapshot&gt;.state</c>,
/// apart from the VM's runtime directory, so that fencing or forgetting a placement never deletes one. Restoring
/// launches the VM's process with <see cref="LaunchSpec.Incoming"/> and feeds it the file, the way a live migration's
/// target receives its stream (<see cref="ILiveMigration"/>).
/// <para>
/// A snapshot covers the VM's disks too (<see cref="IVmDisks"/>): each disk's qcow2 file gets an internal snapshot of
/// the same name, taken while the guest stands still at the moment its memory is captured, so a restore brings disk and
/// memory back to the same moment. A VM with a raw disk cannot be snapshotted (raw has no internal snapshots).
/// </para>
/// </summary>
public interface ISnapshots
{
    /// <summary>
    /// Writes the live process's memory and device state to the snapshot's file (replacing one of that name). A
    /// running guest keeps running: QEMU's <c>background-snapshot</c> pauses it only to save the device state, or, where
    /// QEMU refuses that, a pre-copy to the file pauses it for the last pass and it is resumed at once. A paused guest
    /// is written as it stands and is paused again afterwards (QEMU 7.2 leaves it in <c>postmigrate</c>, which refuses
    /// later migrations, so its vCPUs run for about a millisecond to leave that state). With disks, the guest's pause
    /// covers their internal snapshots (and, with background-snapshot, QEMU's set-up of the stream), and replacing a
    /// snapshot deletes the old one, disks and file, first. Throws <see cref="HypervisorException"/>:
    /// <c>InvalidRequest</c> for an unsafe name or a raw disk,
    /// <c>NotFound</c>/<c>Conflict</c> when the VM has no live process or a migration of it runs, <c>Failed</c> when QEMU
    /// fails or the file comes out incomplete (nothing is left behind then).
    /// </summary>
    Task<SnapshotResult> CreateSnapshotAsync(string vm, string snapshot, CancellationToken cancellationToken);

    /// <summary>
    /// Reverts the disks of <paramref name="spec"/> to their internal snapshots of that name (<c>qemu-img snapshot -a</c>),
    /// launches <paramref name="spec"/> (as an incoming process: paused, waiting for a stream) and loads the snapshot
    /// into it; resumes it when <paramref name="resume"/>, else leaves it paused. <see cref="LaunchSpec.Disks"/> must be
    /// the disks the VM had when the snapshot was taken, in the same slots (the device trees must match). The VM must have
    /// no live process (stop the old one first). Throws <c>NotFound</c> when the snapshot's file does not exist or a
    /// disk has no snapshot of that name (then no disk was reverted), <c>Conflict</c> when a process runs,
    /// <c>InvalidRequest</c> for a raw disk, <c>Failed</c> when QEMU cannot load it (the new process is then stopped).
    /// </summary>
    Task<ProcessStatus> RestoreSnapshotAsync(LaunchSpec spec, string snapshot, bool resume, CancellationToken cancellationToken);

    /// <summary>The snapshot's file, or null when there is none.</summary>
    SnapshotFile? FindSnapshot(string vm, string snapshot);

    /// <summary>
    /// Deletes the snapshot: the internal snapshots of that name in the disks of the VM's live process (over QMP, since
    /// the process holds their files) and in <paramref name="disks"/> that no live process holds (with qemu-img; pass
    /// the VM's volumes so that a snapshot deleted while the VM is stopped loses them too; raw disks and missing files
    /// are skipped), then its file. Nothing is an error when it does not exist, so a repeated delete finishes one that
    /// failed half-way.
    /// </summary>
    Task DeleteSnapshotAsync(string vm, string snapshot, IReadOnlyList<DiskSpec> disks, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes every snapshot file of the VM on this machine, with their folder (the VM is being deleted). The disks'
    /// internal snapshots go with the disks' files.
    /// </summary>
    Task DeleteSnapshotsAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>How a snapshot was written.</summary>
/// <param name="File">Where it is, and its size.</param>
/// <param name="WasRunning">Whether the guest ran when it was taken (a restore resumes it then).</param>
/// <param name="GuestPause">
/// How long the guest's vCPUs stood still, from QEMU's <c>STOP</c> to its <c>RESUME</c> event; null for a paused guest.
/// </param>
/// <param name="Total">From the request to the complete file.</param>
/// <param name="Method"><see cref="SnapshotMethods.Background"/> or <see cref="SnapshotMethods.Precopy"/>.</param>
public sealed record SnapshotResult(SnapshotFile File, bool WasRunning, TimeSpan? GuestPause, TimeSpan Total, string Method);

/// <summary>A snapshot's file on this machine.</summary>
public sealed record SnapshotFile(string Path, long SizeBytes);

/// <summary>How QEMU writes a snapshot.</summary>
public static class SnapshotMethods
{
    /// <summary>QEMU's <c>background-snapshot</c>: the guest runs on while its memory is written (userfaultfd write-protection).</summary>
    public const string Background = "background-snapshot";

    /// <summary>A pre-copy migration to the file; the guest pauses for the last pass (then it is resumed), or stays paused.</summary>
    public const string Precopy = "pre-copy";
}
