using System.Collections.Immutable;
using System.Text.Json;

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
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>The disks of <paramref name="instanceId"/>'s process, by slot; empty when the file is of another process.</summary>
    public static ImmutableArray<DiskSpec> Read(string path, Guid instanceId)
    {
        try
        {
            if (!File.Exists(path) || JsonSerializer.Deserialize<Row>(File.ReadAllText(path), Json) is not { } row || row.InstanceId != instanceId)
            {
                return [];
            }

            return [.. row.Disks.Select(d => new DiskSpec(d.Slot, d.Path, d.Format, d.Serial)).OrderBy(d => d.Slot)];
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return [];
        }
    }

    /// <summary>Writes atomically (temp file, then rename), so a crash never leaves half a list.</summary>
    public void Write(string path)
    {
        var row = new Row(InstanceId, [.. Disks.OrderBy(d => d.Slot).Select(d => new DiskRow(d.Slot, d.Path, d.Format, d.Serial))]);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(row, Json));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The stored shape, apart from <see cref="DiskSpec"/> so that a change there cannot silently change the file.</summary>
    private sealed record Row(Guid InstanceId, IReadOnlyList<DiskRow> Disks);

    private sealed record DiskRow(int Slot, string Path, string Format, string Serial);
}
