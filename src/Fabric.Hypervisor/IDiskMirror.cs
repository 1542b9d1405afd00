namespace Fabric.Hypervisor;

/// <summary>
/// Copies the disks of a migrating VM whose volumes are not on shared storage ("NBD migration", as libvirt does it):
/// the target's incoming process exports its (empty, same-sized) disks over NBD on the host's underlay address; the
/// source mirrors each disk into that export (<c>blockdev-mirror</c>, full sync, guest writes copied synchronously)
/// while the memory migration waits; the memory migration may start only when every mirror is ready. After the memory
/// migration has completed, the source's jobs are ended without a pivot (the target holds every write), then the
/// target's export, and only then may the target be resumed. Cancelling ends the jobs and the export, leaving the
/// source's disks as they were and its guest running.
/// </summary>
/// <remarks>
/// The order at the switch-over is: memory migration completed on both sides → <see cref="EndMirrorAsync"/> on the
/// source (it throws if a disk's copy may be incomplete: then the switch-over must not happen) →
/// <see cref="EndExportAsync"/> on the target → resume the target. An export left in place while the target's guest runs
/// would still accept writes into its disks. NBD carries no authentication or encryption: the export exists only for
/// the duration of a migration, on the underlay, like the memory stream.
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
    /// guest's own writes.
    /// </summary>
    Task StartMirrorAsync(string vm, string endpoint, IReadOnlyList<int> slots, long? bandwidthBytesPerSecond, CancellationToken cancellationToken);

    /// <summary>On the source: how far each disk's mirror is, by slot (empty when no mirror exists).</summary>
    Task<IReadOnlyList<DiskMirrorProgress>> QueryMirrorAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// On the source: cuts the connections to the target, ends the mirror jobs without a pivot (the source keeps its
    /// disks) and removes their NBD clients; harmless when none exists, or when the process has ended. It never waits on
    /// the target, even one that stopped answering. After a completed memory migration (the source in
    /// <c>postmigrate</c>) this is the normal end, and it throws <see cref="HypervisorException"/> (<c>Failed</c>), after
    /// cleaning up, when a disk's mirror was not ready or had failed: that disk's copy on the target may lack writes,
    /// and the switch-over must not happen.
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
