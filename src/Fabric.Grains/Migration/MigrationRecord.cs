using System.Text.Json.Serialization;
using Fabric.Contracts;

namespace Fabric.Grains.Migration;

/// <summary>
/// A VM's migration as its coordinator persists it (grain state <c>migration</c>, stored format version 1): the phase
/// and everything needed to take the next step, or to undo the steps taken, after any crash.
/// </summary>
[GenerateSerializer, Alias("fabric.MigrationRecord")]
public sealed class MigrationRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    /// <summary>Empty when no migration of this VM was ever started (or since its record was removed).</summary>
    [Id(1), JsonPropertyName("id")]
    public string Id { get; set; } = "";

    [Id(2), JsonPropertyName("phase")]
    public MigrationPhase Phase { get; set; }

    [Id(3), JsonPropertyName("request")]
    public MigrationRequest Request { get; set; } = new();

    /// <summary>The VM as it began (source placement, reservation, placement rules); null until the VM accepted.</summary>
    [Id(4), JsonPropertyName("source")]
    public MigrationSource? Source { get; set; }

    [Id(5), JsonPropertyName("targetEpoch")]
    public long TargetEpoch { get; set; }

    [Id(6), JsonPropertyName("targetHost")]
    public string? TargetHost { get; set; }

    [Id(7), JsonPropertyName("uri")]
    public string? Uri { get; set; }

    /// <summary>The VM recorded the switch-over: the target is authoritative, and nothing can be undone.</summary>
    [Id(8), JsonPropertyName("committed")]
    public bool Committed { get; set; }

    /// <summary>Set when the migration is to be undone (cancelled or failed): the steps that remain are the undoing ones.</summary>
    [Id(9), JsonPropertyName("abort")]
    public MigrationAbort? Abort { get; set; }

    [Id(10), JsonPropertyName("postcopy")]
    public bool PostcopyStarted { get; set; }

    [Id(11), JsonPropertyName("targetResumed")]
    public bool TargetResumed { get; set; }

    [Id(12), JsonPropertyName("startedAt")]
    public DateTimeOffset StartedAt { get; set; }

    [Id(13), JsonPropertyName("phaseSince")]
    public DateTimeOffset PhaseSince { get; set; }

    [Id(14), JsonPropertyName("endedAt")]
    public DateTimeOffset? EndedAt { get; set; }

    [Id(15), JsonPropertyName("reason")]
    public string? Reason { get; set; }

    /// <summary>The figures of the last look at the source (and, at the end, the result).</summary>
    [Id(16), JsonPropertyName("figures")]
    public MigrationSide? Figures { get; set; }

    [Id(17), JsonPropertyName("guestPauseMs")]
    public long? GuestPauseMs { get; set; }

    /// <summary>Where the target serves its local-pool disks (NBD), once it does.</summary>
    [Id(18), JsonPropertyName("diskEndpoint")]
    public string? DiskEndpoint { get; set; }

    /// <summary>The source has started mirroring its local-pool disks to <see cref="DiskEndpoint"/>.</summary>
    [Id(19), JsonPropertyName("mirrorStarted")]
    public bool MirrorStarted { get; set; }

    /// <summary>The local-pool volumes' copies were committed to the target in their pools.</summary>
    [Id(20), JsonPropertyName("copiesCommitted")]
    public bool CopiesCommitted { get; set; }

    /// <summary>Both ends of the stream used TLS (read at the switch-over); null before.</summary>
    [Id(21), JsonPropertyName("encrypted")]
    public bool? Encrypted { get; set; }

    [JsonIgnore]
    public bool IsActive => Id.Length > 0 && Phase is not (MigrationPhase.Succeeded or MigrationPhase.Failed or MigrationPhase.Cancelled);

    public MigrationRecord Copy() => (MigrationRecord)MemberwiseClone();
}

/// <summary>Why a migration is being undone, and where it ends once it is.</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationAbort")]
public sealed record MigrationAbort(
    [property: Id(0), JsonPropertyName("outcome")] MigrationPhase Outcome,
    [property: Id(1), JsonPropertyName("reason")] string Reason);
