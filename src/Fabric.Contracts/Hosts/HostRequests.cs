using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>
/// Capacity a VM holds on its host for one placement (its <see cref="Epoch"/>), with what the host needs to launch it.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.VmReservation")]
public sealed record VmReservation
{
    [Id(0)]
    public required string Vm { get; init; }

    [Id(1)]
    public required Resources Resources { get; init; }

    [Id(2)]
    public required string Image { get; init; }

    [Id(3)]
    public string? AntiAffinityGroup { get; init; }

    [Id(4)]
    public string? AffinityGroup { get; init; }

    /// <summary>The placement this reservation belongs to; a host refuses commands of any other epoch.</summary>
    [Id(5)]
    public required long Epoch { get; init; }

    /// <summary>The migration this reservation is the target of: it takes one of the host's incoming migration slots.</summary>
    [Id(6)]
    public string? IncomingMigration { get; init; }

    /// <summary>The VM's disks, by slot.</summary>
    [Id(7)]
    public System.Collections.Immutable.ImmutableArray<DiskPlacement> Disks { get; init; } = [];

    /// <summary>The VM's NICs, by slot.</summary>
    [Id(8)]
    public System.Collections.Immutable.ImmutableArray<NicPlacement> Nics { get; init; } = [];

    /// <summary>Value equality, the disks and NICs compared element by element (an array compares by reference).</summary>
    public bool Equals(VmReservation? other) =>
        other is not null && Vm == other.Vm && Resources == other.Resources && Image == other.Image
        && AntiAffinityGroup == other.AntiAffinityGroup && AffinityGroup == other.AffinityGroup && Epoch == other.Epoch
        && IncomingMigration == other.IncomingMigration && Disks.AsSpan().SequenceEqual(other.Disks.AsSpan())
        && Nics.AsSpan().SequenceEqual(other.Nics.AsSpan());

    public override int GetHashCode() => HashCode.Combine(Vm, Epoch, Image, Disks.Length);
}

/// <summary>
/// Where a VM runs and as what: the host, the placement epoch (it rises at every change of host assignment: create,
/// forced stop or delete, and later migration and HA restart) and the instance id of the process (new at every
/// start). Every command to a host carries it; a host refuses a command whose epoch is not the one it holds.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.VmAssignment")]
public sealed record VmAssignment(
    [property: Id(0)] string Vm,
    [property: Id(1)] string Host,
    [property: Id(2)] long Epoch,
    [property: Id(3)] Guid InstanceId);

/// <summary>
/// Orders what one host reports without any wall clock: the host's incarnation (persisted, it rises at every activation
/// of the host) and a counter within that incarnation.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.HostSequence")]
public readonly record struct HostSequence([property: Id(0)] long Incarnation, [property: Id(1)] long Number) : IComparable<HostSequence>
{
    public static readonly HostSequence None = new(0, 0);

    public int CompareTo(HostSequence other) =>
        Incarnation != other.Incarnation ? Incarnation.CompareTo(other.Incarnation) : Number.CompareTo(other.Number);

    public static bool operator <(HostSequence left, HostSequence right) => left.CompareTo(right) < 0;

    public static bool operator >(HostSequence left, HostSequence right) => left.CompareTo(right) > 0;

    public static bool operator <=(HostSequence left, HostSequence right) => left.CompareTo(right) <= 0;

    public static bool operator >=(HostSequence left, HostSequence right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Incarnation}.{Number}";
}

/// <summary>What a host sees of a VM's process.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuntimePower>))]
public enum RuntimePower
{
    /// <summary>The host accepted the launch of this instance and is still bringing its process up.</summary>
    Launching,

    /// <summary>vCPUs running.</summary>
    Running,

    /// <summary>Process alive, vCPUs stopped.</summary>
    Paused,

    /// <summary>The guest powered itself off, or the host stopped the process on request.</summary>
    ShutDown,

    /// <summary>The process died without a shutdown (crash, signal, a launch that failed, or gone while the host agent was away).</summary>
    Crashed,

    /// <summary>The host has no process of this instance.</summary>
    Absent,
}

/// <summary>
/// What a host holds for one VM: the epoch and instance it accepted, and the state of that process. Hosts send one on
/// every change and, level-triggered, in a regular digest; the VM grain applies one only when it is newer (by
/// <see cref="Sequence"/>) than the last it applied from that host, and settles its record from it.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.VmObservation")]
public sealed record VmObservation
{
    [Id(0)]
    public required string Vm { get; init; }

    [Id(1)]
    public required string Host { get; init; }

    /// <summary>The epoch of the host's ledger entry for the VM (or of the process, when the host holds no entry).</summary>
    [Id(2)]
    public required long Epoch { get; init; }

    /// <summary>The instance the host last accepted for the VM at <see cref="Epoch"/> (empty when none).</summary>
    [Id(3)]
    public required Guid InstanceId { get; init; }

    [Id(4)]
    public required RuntimePower Power { get; init; }

    [Id(5)]
    public string? Reason { get; init; }

    [Id(6)]
    public int? Pid { get; init; }

    [Id(7)]
    public required HostSequence Sequence { get; init; }
}

/// <summary>
/// A QEMU process of this fabric on a host that holds no ledger entry for it: no record places it there. The host
/// leaves it alone (an operator decides), shows it, and refuses to place or start a VM of that name until it is gone,
/// so it can never be duplicated.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.UnmanagedProcess")]
public sealed record UnmanagedProcess(
    [property: Id(0)] string Vm,
    [property: Id(1)] int? Pid,
    [property: Id(2)] long Epoch,
    [property: Id(3)] Guid InstanceId);
