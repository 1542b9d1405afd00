using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Pools, volumes and images as tables for people.</summary>
internal static class StorageOutput
{
    public static void Pools(IAnsiConsole console, IReadOnlyList<PoolInfo> pools)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(pools);
        var table = Cells.Table("NAME", "TYPE", "PATH", "CAPACITY", "OVERCOMMIT", "ALLOCATED/LIMIT", "USED", "VOLUMES", "IMAGES");
        foreach (var pool in pools)
        {
            table.AddRow(
                Cells.Of(pool.Name),
                Cells.Of(pool.Type.ToString().ToLowerInvariant()),
                Cells.Of(pool.Path),
                Cells.Of(Sizes.FormatBytes(pool.CapacityBytes)),
                Cells.Of(Ratio(pool.Overcommit)),
                Cells.Of($"{Sizes.FormatBytes(pool.AllocatedBytes)}/{Sizes.FormatBytes(pool.LimitBytes)}"),
                Cells.Of(Sizes.FormatBytes(pool.UsedBytes)),
                Cells.Of(pool.Volumes),
                Cells.Of(pool.Images));
        }

        console.Write(table);
    }

    public static void Pool(IAnsiConsole console, PoolInfo pool)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(pool);
        var grid = Cells.Details();
        grid.Row("Name", pool.Name);
        grid.Row("Type", pool.Type.ToString().ToLowerInvariant());
        grid.Row("Path", pool.Type == PoolType.Local ? $"{pool.Path}/<host>" : pool.Path);
        grid.Row("Capacity", Sizes.FormatBytes(pool.CapacityBytes));
        grid.Row("Overcommit", Ratio(pool.Overcommit));
        grid.Row("Limit", Sizes.FormatBytes(pool.LimitBytes));
        grid.Row("Allocated", $"{Sizes.FormatBytes(pool.AllocatedBytes)} (virtual)");
        grid.Row("Used", $"{Sizes.FormatBytes(pool.UsedBytes)} (on disk{(pool.MeasuredAt is { } at ? ", measured " + Cells.Time(at) : "")})");
        grid.Row("Quota per VM", pool.QuotaPerVmBytes is { } quota ? Sizes.FormatBytes(quota) : null);
        grid.Row("Volumes", pool.Volumes.ToString(CultureInfo.InvariantCulture));
        grid.Row("Images", pool.Images.ToString(CultureInfo.InvariantCulture));
        if (!pool.Unmeasured.IsDefaultOrEmpty)
        {
            grid.Row("Not measured", Cells.List(pool.Unmeasured));
        }

        grid.Row("Created", Cells.Time(pool.CreatedAt));
        console.Write(grid);
    }

    public static void Volumes(IAnsiConsole console, IReadOnlyList<VolumeInfo> volumes)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(volumes);
        var table = Cells.Table("POOL", "NAME", "STATE", "SIZE", "ON DISK", "HOST", "FROM", "ATTACHED TO");
        foreach (var volume in volumes)
        {
            table.AddRow(
                Cells.Of(volume.Pool),
                Cells.Of(volume.Name),
                Cells.Of(volume.State.ToString()),
                Cells.Of(Sizes.FormatBytes(volume.SizeBytes)),
                Cells.Of(volume.PhysicalBytes is { } bytes ? Sizes.FormatBytes(bytes) : null),
                Cells.Of(volume.Host),
                Cells.Of(volume.Image is null ? null : $"{volume.Image} ({volume.Provisioning})"),
                Cells.Of(volume.AttachedTo));
        }

        console.Write(table);
    }

    public static void Volume(IAnsiConsole console, VolumeInfo volume)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(volume);
        var grid = Cells.Details();
        grid.Row("Pool", volume.Pool);
        grid.Row("Name", volume.Name);
        grid.Row("State", volume.State.ToString());
        grid.Row("Size", $"{Sizes.FormatBytes(volume.SizeBytes)} (virtual)");
        grid.Row("On disk", volume.PhysicalBytes is { } bytes ? Sizes.FormatBytes(bytes) : null);
        grid.Row("Format", volume.Format);
        grid.Row("Host", volume.Host);
        grid.Row("Image", volume.Image is null ? null : $"{volume.Image} ({volume.Provisioning})");
        grid.Row("Attached to", volume.AttachedTo is null ? null : volume.DeleteWithVm ? $"{volume.AttachedTo} (deleted with it)" : volume.AttachedTo);
        grid.Row("Created", Cells.Time(volume.CreatedAt));
        console.Write(grid);
    }

    public static void Images(IAnsiConsole console, IReadOnlyList<ImageInfo> images)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(images);
        var table = Cells.Table("POOL", "NAME", "FORMAT", "SIZE", "ON DISK", "HOSTS", "LINKED CLONES");
        foreach (var image in images)
        {
            table.AddRow(
                Cells.Of(image.Pool),
                Cells.Of(image.Name),
                Cells.Of(image.Format),
                Cells.Of(Sizes.FormatBytes(image.VirtualBytes)),
                Cells.Of(Sizes.FormatBytes(image.PhysicalBytes)),
                Cells.Of(image.Hosts.IsDefaultOrEmpty ? "shared" : Cells.List(image.Hosts)),
                Cells.Of(image.LinkedClones));
        }

        console.Write(table);
    }

    public static string Disks(IReadOnlyList<VmDisk> disks) =>
        disks.Count == 0 ? Cells.List([]) : string.Join(", ", disks.Select(d => $"{d.Pool}/{d.Volume} ({Sizes.FormatBytes(d.SizeBytes)}, {d.Bus} slot {d.Slot})"));

    private static string Ratio(double ratio) => string.Create(CultureInfo.InvariantCulture, $"{ratio:0.##}x");
}
