using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>How the scheduler spreads VMs over hosts when the operator does not name a host.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PlacementPolicy>))]
public enum PlacementPolicy
{
    /// <summary>Use the cluster's default policy.</summary>
    Default,

    /// <summary>Fill the most-allocated host that fits first.</summary>
    Pack,

    /// <summary>Put the VM on the least-allocated host that fits.</summary>
    Spread,
}

/// <summary>Placement constraints of a VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmPlacement")]
public sealed record VmPlacement
{
    public static readonly VmPlacement None = new();

    /// <summary>Run on exactly this host.</summary>
    [Id(0)]
    public string? Host { get; init; }

    [Id(1)]
    public PlacementPolicy Policy { get; init; }

    /// <summary>VMs sharing an anti-affinity group never share a host.</summary>
    [Id(2)]
    public string? AntiAffinityGroup { get; init; }

    /// <summary>VMs sharing an affinity group share a host.</summary>
    [Id(3)]
    public string? AffinityGroup { get; init; }

    /// <summary>Only hosts carrying all these labels qualify.</summary>
    [Id(4)]
    public ImmutableSortedDictionary<string, string> HostSelector { get; init; } = ImmutableSortedDictionary<string, string>.Empty;
}

/// <summary>What an operator asks for when creating a VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmSpec")]
public sealed record VmSpec
{
    public const int MaxVCpus = 256;
    public const int MinMemoryMiB = 16;
    public const int MaxMemoryMiB = 1024 * 1024;
    public const int DefaultVCpus = 1;
    public const int DefaultMemoryMiB = 128;

    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required string Image { get; init; }

    [Id(2)]
    public int VCpus { get; init; } = DefaultVCpus;

    [Id(3)]
    public int MemoryMiB { get; init; } = DefaultMemoryMiB;

    [Id(4)]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    [Id(5)]
    public VmPlacement Placement { get; init; } = VmPlacement.None;

    /// <summary>The VM's disks, in the order the guest sees them (vda, vdb, …).</summary>
    [Id(6)]
    public ImmutableArray<DiskRequest> Disks { get; init; } = [];

    /// <summary>The VM's NICs, in the order the guest sees them at boot (eth0, eth1, …).</summary>
    [Id(7)]
    public ImmutableArray<NicRequest> Nics { get; init; } = [];

    /// <summary>The project the VM belongs to and is charged to.</summary>
    [Id(8)]
    public string Project { get; init; } = ProjectInfo.Default;

    /// <summary>
    /// Checks every field on its own (host-independent limits); host limits and image availability are checked at placement.
    /// Returns the spec with normalized collections, or throws <c>invalid-spec</c> naming the first bad field.
    /// </summary>
    public VmSpec Validate()
    {
        Names.Require("name", Name);
        Names.Require("image", Image);
        Names.Require("project", Project);
        if (VCpus < 1 || VCpus > MaxVCpus)
        {
            throw FabricException.InvalidSpec("vcpus", $"{VCpus} is out of range 1–{MaxVCpus}");
        }

        if (MemoryMiB < MinMemoryMiB || MemoryMiB > MaxMemoryMiB)
        {
            throw FabricException.InvalidSpec("memory", $"{Sizes.FormatMiB(MemoryMiB)} is out of range {Sizes.FormatMiB(MinMemoryMiB)}–{Sizes.FormatMiB(MaxMemoryMiB)}");
        }

        var placement = Placement ?? VmPlacement.None;
        if (placement.Host is not null)
        {
            Names.Require("placement.host", placement.Host);
        }

        if (placement.AntiAffinityGroup is not null)
        {
            Names.Require("placement.antiAffinityGroup", placement.AntiAffinityGroup);
        }

        if (placement.AffinityGroup is not null)
        {
            Names.Require("placement.affinityGroup", placement.AffinityGroup);
        }

        if (!Enum.IsDefined(placement.Policy))
        {
            throw FabricException.InvalidSpec("placement.policy", $"'{placement.Policy}' is not pack or spread");
        }

        var disks = Disks.IsDefault ? [] : Disks;
        if (disks.Length > VmDisk.MaxPerVm)
        {
            throw FabricException.InvalidSpec("disks", $"{disks.Length} disks; a VM has at most {VmDisk.MaxPerVm}");
        }

        for (var i = 0; i < disks.Length; i++)
        {
            if (disks[i] is null)
            {
                throw FabricException.InvalidSpec($"disks[{i}]", "is empty");
            }

            disks[i].Validate($"disks[{i}]");
        }

        var duplicate = disks.Where(d => d.Volume is not null).GroupBy(d => (d.Pool, d.Volume)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw FabricException.InvalidSpec("disks", $"volume {duplicate.Key.Pool}/{duplicate.Key.Volume} is given twice");
        }

        var nics = Nics.IsDefault ? [] : Nics;
        if (nics.Length > VmNic.MaxPerVm)
        {
            throw FabricException.InvalidSpec("nics", $"{nics.Length} NICs; a VM has at most {VmNic.MaxPerVm}");
        }

        for (var i = 0; i < nics.Length; i++)
        {
            if (nics[i] is null)
            {
                throw FabricException.InvalidSpec($"nics[{i}]", "is empty");
            }

            nics[i].Validate($"nics[{i}]");
        }

        var twice = nics.Where(n => n.Ip is not null).GroupBy(n => (n.Network, n.Ip)).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
        {
            throw FabricException.InvalidSpec("nics", $"address {twice.Key.Ip} on network '{twice.Key.Network}' is given twice");
        }

        return this with
        {
            Disks = disks,
            Nics = nics,
            Labels = Contracts.Labels.Require("labels", Labels),
            Placement = placement with { HostSelector = Contracts.Labels.Require("placement.hostSelector", placement.HostSelector) },
        };
    }
}
