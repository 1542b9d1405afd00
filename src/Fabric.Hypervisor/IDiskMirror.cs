namespace Fabric.Hypervisor;

/// <summary>
/// Copies the disks of a migrating VM whose volumes are not on shared storage ("NBD migration", as libvirt does it):
/// the target's incoming process exports its (empty, same-sized) disks over NBD on the host's underlay address; the
/// source mirrors each disk into that export (<c>blockdev-mirror</c>, full sync, guest writes copied synchronously);
/// the memory migration may start only when every mirror is ready, and it then stops before its switch-over, where the
/// mirrors end. Cancelling ends the jobs and the export, leaving the source's disks as they were and its guest running.
/// </summary>
/// <remarks>
/// The order, with the memory migration of <see cref="ILiveMigration"/>:
/// <list type="number">
/// <item>target: launch <see cref="LaunchSpec.Incoming"/> with empty disks; <see cref="ExportDisksAsync"/>;</item>
/// <item>source: <see cref="StartMirrorAsync"/>; <see cref="QueryMirrorAsync"/> until every disk is ready;</item>
/// <item>the memory migration (<see cref="ILiveMigration.ListenAsync"/>, <see cref="ILiveMigration.SendAsync"/>, which
/// refuses while a mirror is not ready); the source stops before its switch-over: <see cref="MigrationProgress.Status"/>
/// <c>pre-switchover</c>;</item>
/// <item>source: <see cref="EndMirrorAsync"/>, which makes the jobs' last copy and lets the migration complete (or
/// cancels it, and throws, when a disk could not be brought in sync);</item>
/// <item>target, once its migration completed: <see cref="EndExportAsync"/>; then commit and resume the target. An
/// export left in place while the target's guest runs would still accept writes into its disks.</item>
/// </list>
/// NBD carries no authentication or encryption: the export exists only for the duration of a migration, on the
/// underlay, like the memory stream.
/// </remarks>
public interface IDiskMirror
{
    /// <summary>
    /// On the target: serves the incoming process's disks in <paramref name="slots"/> over NBD (writable, export name
    /// <c>disk&lt;slot&gt;</c>) on <paramref name="address"/>, at a free port the driver picks; returns
    /// <c>ADDRESS:PORT</c> (<c>[ADDRESS]:PORT</c> for IPv6). A repeated call replaces the earlier server, at a new port.
    /// Throws <see cref="HypervisorException"/>: <c>Conflict</c> unless the process is an incoming one that has not
    /// received its guest yet (exporting a running guest's disks would let them be overwritten under it);
    /// <c>NotFound</c> for a slot without a disk; <c>InvalidRequest</c> for a bad address or no, repeated or
    /// out-of-range slots.
    /// </summary>
    Task<string> ExportDisksAsync(string vm, string address, IReadOnlyList<int> slots, CancellationToken cancellationToken);

    /// <summary>
    /// On the target: stops serving the disks and waits until their connections are gone (harmless when not serving,
    /// or when the process has ended). Must come before the target is resumed.
    /// </summary>
    Task EndExportAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// On the source: starts mirroring the disks in <paramref name="slots"/> to the target's export at
    /// <paramref name="endpoint"/> (what <see cref="ExportDisksAsync"/> returned). The whole disk is copied as the guest
    /// sees it, backing image included, so the target's volume needs no backing file (and may occupy more than the
    /// source's thin overlay). Every guest write is also written to the target before it completes;
    /// <paramref name="bandwidthBytesPerSecond"/> caps only the background copy. A repeated call ends what an earlier
    /// one left and starts over. An I/O error stops a job (shown by <see cref="QueryMirrorAsync"/>) but never fails the
    /// guest's own writes. <c>Conflict</c> while a memory migration of the process is under way.
    /// </summary>
    Task StartMirrorAsync(string vm, string endpoint, IReadOnlyList<int> slots, long? bandwidthBytesPerSecond, CancellationToken cancellationToken);

    /// <summary>On the source: how far each disk's mirror is, by slot (empty when no mirror exists).</summary>
    Task<IReadOnlyList<DiskMirrorProgress>> QueryMirrorAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// On the source: ends the mirror jobs without a pivot (the source keeps its disks) and removes their NBD clients;
    /// harmless when none exists, or when the process has ended.
    /// <list type="bullet">
    /// <item>At the switch-over (the memory migration in <c>pre-switchover</c>): every disk must be ready; each job
    /// makes its last copy (the guest is stopped) and ends, then the migration goes on to complete. When a disk was not
    /// ready or its last copy failed, it cancels the memory migration instead (the source's guest runs on) and throws
    /// <see cref="HypervisorException"/> (<c>Failed</c>); a repeated call then finds nothing to do.</item>
    /// <item>At any other time it abandons the copy, cutting the connections first so that it never waits on a target
    /// that stopped answering; a memory migration under way is cancelled too, since it cannot complete without its
    /// disks.</item>
    /// </list>
    /// </summary>
    Task EndMirrorAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>One disk's mirror.</summary>
/// <param name="Slot">The disk's slot.</param>
/// <param name="Ready">In sync, with no error: every later guest write reaches the target before it completes.</param>
/// <param name="CopiedBytes">Bytes copied so far (QEMU's <c>offset</c>).</param>
/// <param name="TotalBytes">
/// Bytes to copy (QEMU's <c>len</c>): the disk's size at first, growing as guest writes dirty blocks already copied.
/// </param>
/// <param name="Error">Why the job stopped or ended early, or null.</param>
public sealed record DiskMirrorProgress(int Slot, bool Ready, long CopiedBytes, long TotalBytes, string? Error);
