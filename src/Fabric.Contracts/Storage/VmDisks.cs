using System.Globalization;

namespace Fabric.Contracts;

/// <summary>
/// A disk a VM is created with: an existing volume (<c>POOL/VOLUME</c>), or a new one made for the VM and deleted with
/// it (<c>POOL:SIZE</c>, or <c>POOL:SIZE:IMAGE</c> for a linked clone of an image of that pool).
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.DiskRequest")]
public sealed record DiskRequest
{
    [Id(0)]
    public required string Pool { get; init; }

    /// <summary>An existing volume to attach.</summary>
    [Id(1)]
    public string? Volume { get; init; }

    /// <summary>A new volume's size.</summary>
    [Id(2)]
    public long? SizeBytes { get; init; }

    /// <summary>A new volume's image.</summary>
    [Id(3)]
    public string? Image { get; init; }

    /// <summary>A full copy of the image instead of a linked clone.</summary>
    [Id(4)]
    public bool Full { get; init; }

    /// <summary>Parses <c>POOL:SIZE</c>, <c>POOL:SIZE:IMAGE</c> or <c>POOL/VOLUME</c>; throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static DiskRequest Parse(string field, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        var slash = text.Split('/');
        if (parts.Length == 1 && slash.Length == 2)
        {
            return new DiskRequest { Pool = Names.Require($"{field}.pool", slash[0]), Volume = Names.Require($"{field}.volume", slash[1]) };
        }

        if (parts.Length is < 2 or > 3)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not POOL:SIZE, POOL:SIZE:IMAGE or POOL/VOLUME");
        }

        return new DiskRequest
        {
            Pool = Names.Require($"{field}.pool", parts[0]),
            SizeBytes = Sizes.ParseBytes($"{field}.size", parts[1]),
            Image = parts.Length == 3 ? Names.Require($"{field}.image", parts[2]) : null,
        };
    }

    public DiskRequest Validate(string field)
    {
        Names.Require($"{field}.pool", Pool);
        if (Volume is not null)
        {
            Names.Require($"{field}.volume", Volume);
            if (SizeBytes is not null || Image is not null || Full)
            {
                throw FabricException.InvalidSpec(field, "an existing volume takes no size, image or full");
            }

            return this;
        }

        if (SizeBytes is null)
        {
            throw FabricException.InvalidSpec($"{field}.size", "is required for a new volume");
        }

        VolumeSpec.RequireSize($"{field}.size", SizeBytes.Value);
        if (Image is not null)
        {
            Names.Require($"{field}.image", Image);
        }
        else if (Full)
        {
            throw FabricException.InvalidSpec($"{field}.full", "needs an image to copy");
        }

        return this;
    }

    public override string ToString() => Volume is not null
        ? $"{Pool}/{Volume}"
        : $"{Pool}:{SizeBytes?.ToString(CultureInfo.InvariantCulture)}{(Image is null ? "" : ":" + Image)}";
}

/// <summary>A disk of a VM (<c>vm get -o json</c>: <c>disks</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmDisk")]
public sealed record VmDisk
{
    /// <summary>The most disks a VM has.</summary>
    public const int MaxPerVm = 16;

    public const string VirtioBus = "virtio";

    [Id(0)]
    public required string Pool { get; init; }

    [Id(1)]
    public required string Volume { get; init; }

    [Id(2)]
    public required long SizeBytes { get; init; }

    [Id(3)]
    public string Bus { get; init; } = VirtioBus;

    /// <summary>Its place on the VM's bus (the guest sees disks in slot order: vda, vdb, …, hot-plugged ones as they come).</summary>
    [Id(4)]
    public int Slot { get; init; }

    /// <summary>The volume was made for this VM and goes with it.</summary>
    [Id(5)]
    public bool DeleteWithVm { get; init; }
}

/// <summary>
/// A VM's disks changed while it exists, served by the VM's grain beside <see cref="IVmGrain"/>: hot-plug and unplug
/// on a running VM (the volume is recorded on the VM and claimed in its pool first), growth of an attached volume.
/// </summary>
[Alias("fabric.IVmVolumes")]
public interface IVmVolumes : IGrainWithStringKey
{
    /// <summary>
    /// Makes the volume a disk of the VM: hot-plugged when it runs, on its next start otherwise. <c>conflict</c> when
    /// another VM holds the volume, the VM is migrating, or (local pool) the volume lives on another host.
    /// </summary>
    [Alias("AttachVolume")]
    Task<VmInfo> AttachVolume(string pool, string volume);

    /// <summary>Unplugs the disk (the guest must release it) and gives the volume back to its pool; the volume stays.</summary>
    [Alias("DetachVolume")]
    Task<VmInfo> DetachVolume(string pool, string volume);

    /// <summary>Grows one of the VM's disks (live while it runs).</summary>
    [Alias("ResizeVolume")]
    Task<VmInfo> ResizeVolume(string pool, string volume, long sizeBytes);
}
