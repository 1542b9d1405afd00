namespace Fabric.Hypervisor;

/// <summary>
/// A VM's guest-physical memory, read from the host: what a test needs to check page by page that memory survived a
/// pause, a migration or a snapshot (the <c>memwalk</c> guest, docs/guests.md).
/// </summary>
public interface IGuestMemory
{
    /// <summary>The most one dump may copy: it lands on the host's disk, and QEMU is busy while it copies.</summary>
    public const long MaxDumpLength = 1L << 30;

    /// <summary>The dump's file name in the VM's runtime directory; each dump replaces the previous one.</summary>
    public const string DumpFileName = "memory.dump";

    /// <summary>
    /// Copies <paramref name="length"/> bytes of guest-physical memory from <paramref name="address"/> into
    /// <see cref="DumpFileName"/> in the VM's own runtime directory (never a path the caller chooses), and returns that
    /// file's path. The guest keeps running unless it was paused first, so pause it for a consistent dump. Throws
    /// <see cref="HypervisorException"/>: <c>InvalidRequest</c> naming the field for a negative address, or a length
    /// that is negative or above <see cref="MaxDumpLength"/>; <c>NotFound</c> or <c>Conflict</c> when the VM has no
    /// live process; <c>Failed</c> when the hypervisor refuses.
    /// </summary>
    Task<string> DumpAsync(string vm, long address, long length, CancellationToken cancellationToken);
}
