using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// How a <see cref="DiskSpec"/> becomes QEMU objects, in one place for the command line and for QMP, so that a disk
/// hot-plugged into a running process is exactly the disk a process launched with it has (a migration's target and a
/// snapshot's restore are launched with it on their command line, and their device trees must match the source's).
/// </summary>
public static class VirtioDisk
{
    public const string DeviceDriver = "virtio-blk-pci";

    /// <summary>The format layer over the file layer (format given, never probed), named by <see cref="DiskSpec.NodeName"/>.</summary>
    public static JsonObject Blockdev(DiskSpec disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        return new JsonObject
        {
            ["node-name"] = disk.NodeName,
            ["driver"] = disk.Format,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = disk.Path },
        };
    }

    /// <summary>The virtio-blk device's properties, in command-line order (driver first).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> DeviceProperties(DiskSpec disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        return
        [
            new("driver", DeviceDriver),
            new("id", disk.DeviceId),
            new("drive", disk.NodeName),
            new("serial", disk.Serial),
            new("bus", PcieRootPorts.DiskPort(disk.Slot)),
            new("addr", "0x0"),
        ];
    }

    /// <summary>The <c>-device</c> value: <c>virtio-blk-pci,id=…,drive=…,serial=…,bus=port-d…,addr=0x0</c> (every value is a safe token).</summary>
    public static string DeviceOption(DiskSpec disk) => QemuDevice.Option(DeviceProperties(disk));

    /// <summary>The arguments of QMP <c>device_add</c>: the same properties as <see cref="DeviceOption"/>.</summary>
    public static JsonObject DeviceAdd(DiskSpec disk) => QemuDevice.DeviceAdd(DeviceProperties(disk));

    /// <summary>
    /// One QMP <c>transaction</c> taking an internal snapshot called <paramref name="name"/> of every disk's format
    /// node: all of them or none, at one point of the block layer.
    /// </summary>
    public static JsonObject SnapshotTransaction(IEnumerable<DiskSpec> disks, string name)
    {
        ArgumentNullException.ThrowIfNull(disks);
        var actions = new JsonArray();
        foreach (var disk in disks.OrderBy(d => d.Slot))
        {
            actions.Add(new JsonObject
            {
                ["type"] = "blockdev-snapshot-internal-sync",
                ["data"] = new JsonObject { ["device"] = disk.NodeName, ["name"] = name },
            });
        }

        return new JsonObject { ["actions"] = actions };
    }

    /// <summary>The named block nodes (QMP <c>query-named-block-nodes</c> with <c>flat</c>), by node name.</summary>
    public static ImmutableDictionary<string, BlockNode> BlockNodes(JsonElement namedBlockNodes)
    {
        var nodes = ImmutableDictionary.CreateBuilder<string, BlockNode>(StringComparer.Ordinal);
        if (namedBlockNodes.ValueKind != JsonValueKind.Array)
        {
            return nodes.ToImmutable();
        }

        foreach (var node in namedBlockNodes.EnumerateArray())
        {
            if (Text(node, "node-name") is not { } name || name.StartsWith('#'))
            {
                continue; // Nodes QEMU named itself (#block123) are the file layers under the disks.
            }

            var image = node.TryGetProperty("image", out var i) && i.ValueKind == JsonValueKind.Object ? i : default;
            var size = image.ValueKind == JsonValueKind.Object && image.TryGetProperty("virtual-size", out var s) && s.TryGetInt64(out var bytes) ? bytes : 0;
            nodes[name] = new BlockNode(name, Text(node, "drv") ?? "", size, SnapshotNames(image));
        }

        return nodes.ToImmutable();
    }

    /// <summary>The internal snapshots' names in an image description (QMP's ImageInfo, or <c>qemu-img info --output=json</c>).</summary>
    public static ImmutableArray<string> SnapshotNames(JsonElement imageInfo)
    {
        if (imageInfo.ValueKind != JsonValueKind.Object || !imageInfo.TryGetProperty("snapshots", out var snapshots) || snapshots.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return [.. snapshots.EnumerateArray().Select(s => Text(s, "name")).OfType<string>()];
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>A named block node of a live process.</summary>
/// <param name="Name">Its node name.</param>
/// <param name="Driver">Its driver (<c>qcow2</c>, <c>raw</c>).</param>
/// <param name="VirtualBytes">The disk's size as the guest sees it.</param>
/// <param name="Snapshots">The names of its image's internal snapshots.</param>
public sealed record BlockNode(string Name, string Driver, long VirtualBytes, ImmutableArray<string> Snapshots);
