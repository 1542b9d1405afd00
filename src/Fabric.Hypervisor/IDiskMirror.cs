namespace Fabric.Hypervisor;

/// <summary>
/// Copies the disks of a migrating VM whose volumes are not on shared storage: the target's incoming process exports
/// its (empty, same-sized) disks over NBD on the host's underlay address; the source mirrors each disk into that export
/// (<c>blockdev-mirror</c>, full sync, writes copied synchronously once in sync) while the memory migration waits; the
/// switch-over may start only when every mirror is ready, and after it the source's mirror jobs are ended without a
/// pivot. Cancelling stops the jobs and the export, leaving the source's disks as they were.
/// </summary>
public interface IDiskMirror
{
    /// <summary>
    /// On the target: serves the incoming process's disks in <paramref name="slots"/> over NBD (writable) on
    /// <paramref name="address"/>, at a port the driver picks; returns <c>ADDRESS:PORT</c>.
    /// </summary>
    Task<string> ExportDisksAsync(string vm, string address, IReadOnlyList<int> slots, CancellationToken cancellationToken);

    /// <summary>On the target: stops serving the disks (harmless when not serving).</summary>
    Task EndExportAsync(string vm, CancellationToken cancellationToken);

    /// <summary>On the source: starts mirroring the disks in <paramref name="slots"/> to the target's export at <paramref name="endpoint"/>.</summary>
    Task StartMirrorAsync(string vm, string endpoint, IReadOnlyList<int> slots, long? bandwidthBytesPerSecond, CancellationToken cancellationToken);

    /// <summary>On the source: how far each disk's mirror is.</summary>
    Task<IReadOnlyList<DiskMirrorProgress>> QueryMirrorAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// On the source: ends the mirror jobs and removes their NBD clients (harmless when none runs). After a completed
    /// switch-over this is the normal end (the target holds the disks); before it, it cancels the copy.
    /// </summary>
    Task EndMirrorAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>One disk's mirror.</summary>
/// <param name="Slot">The disk's slot.</param>
/// <param name="Ready">In sync: every later guest write reaches the target before it completes.</param>
/// <param name="CopiedBytes">Bytes copied so far (QEMU's offset).</param>
/// <param name="TotalBytes">Bytes to copy (QEMU's len).</param>
/// <param name="Error">Why the job failed or ended early, or null.</param>
public sealed record DiskMirrorProgress(int Slot, bool Ready, long CopiedBytes, long TotalBytes, string? Error);
