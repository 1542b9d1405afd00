using System.Collections.Immutable;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// <c>nics.json</c> in a VM's runtime directory: the NICs of one process (by its instance id), kept exactly as
/// <see cref="DiskRecord"/> keeps its disks: written at launch, before a hot-plug and after an unplug; read back and
/// checked against QEMU at re-attach; a file of another instance is ignored.
/// </summary>
internal sealed record NicRecord(Guid InstanceId, ImmutableArray<NicSpec> Nics)
{
    /// <summary>The NICs of <paramref name="instanceId"/>'s process, by slot; empty when the file is of another process.</summary>
    public static ImmutableArray<NicSpec> Read(string path, Guid instanceId) =>
        RecordFile.TryRead<Row>(path) is { } row && row.InstanceId == instanceId
            ? [.. row.Nics.Select(n => new NicSpec(n.Slot, n.Tap, n.Mac, n.Mtu)).OrderBy(n => n.Slot)]
            : [];

    /// <summary>Writes atomically (temp file, then rename), so a crash never leaves half a list.</summary>
    public void Write(string path) =>
        RecordFile.Write(path, new Row(InstanceId, [.. Nics.OrderBy(n => n.Slot).Select(n => new NicRow(n.Slot, n.Tap, n.Mac, n.Mtu))]));

    /// <summary>The stored shape, apart from <see cref="NicSpec"/> so that a change there cannot silently change the file.</summary>
    private sealed record Row(Guid InstanceId, IReadOnlyList<NicRow> Nics);

    private sealed record NicRow(int Slot, string Tap, string Mac, int Mtu);
}
