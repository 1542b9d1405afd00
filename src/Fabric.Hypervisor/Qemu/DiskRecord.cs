using System.Collections.Immutable;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// <c>disks.json</c> in a VM's runtime directory: the disks of one process (by its instance id), those it was launched
/// with plus those hot-plugged since, minus those unplugged. The driver writes it at launch, before a hot-plug (so it
/// always names every disk the process may hold, even when the driver dies half-way) and after an unplug; a restarted
/// driver reads it back and checks it against QEMU (<see cref="QemuDriver"/>, re-attach). A file of another instance is
/// ignored.
/// </summary>
internal sealed record DiskRecord(Guid InstanceId, ImmutableArray<DiskSpec> Disks)
{
    /// <summary>The disks of <paramref name="instanceId"/>'s process, by slot; empty when the file is of another process.</summary>
    public static ImmutableArray<DiskSpec> Read(string path, Guid instanceId) =>
        RecordFile.TryRead<Row>(path) is { } row && row.InstanceId == instanceId
            ? [.. row.Disks.Select(d => new DiskSpec(d.Slot, d.Path, d.Format, d.Serial)).OrderBy(d => d.Slot)]
            : [];

    /// <summary>Writes atomically (temp file, then rename), so a crash never leaves half a list.</summary>
    public void Write(string path) =>
        RecordFile.Write(path, new Row(InstanceId, [.. Disks.OrderBy(d => d.Slot).Select(d => new DiskRow(d.Slot, d.Path, d.Format, d.Serial))]));

    /// <summary>The stored shape, apart from <see cref="DiskSpec"/> so that a change there cannot silently change the file.</summary>
    private sealed record Row(Guid InstanceId, IReadOnlyList<DiskRow> Disks);

    private sealed record DiskRow(int Slot, string Path, string Format, string Serial);
}
