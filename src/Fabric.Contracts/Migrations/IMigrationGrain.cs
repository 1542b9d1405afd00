using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// The live migration of one VM (keyed by the VM's name): a persisted state machine that reserves the target, prepares
/// its incoming process, has the source send, and switches over only once the target holds the whole VM. At most one
/// runs per VM. Calls flow coordinator → VM, scheduler and hosts; the VM only nudges it one-way
/// (<see cref="Wake"/>), so no call cycle can deadlock.
/// </summary>
[Alias("fabric.IMigrationGrain")]
public interface IMigrationGrain : IGrainWithStringKey
{
    /// <summary>Starts migrating the VM; <c>conflict</c> when a migration of it is under way or it cannot move now.</summary>
    [Alias("Start")]
    Task<MigrationInfo> Start(MigrationRequest request);

    /// <summary>Cancels the migration under way (any phase before the switch-over commits); the VM stays on its source.</summary>
    [Alias("Cancel")]
    Task<MigrationInfo> Cancel();

    /// <summary>The migration under way, else the last one (until the VM is deleted), else <c>not-found</c>.</summary>
    [AlwaysInterleave, ResponseTimeout("00:00:10"), Alias("Get")]
    Task<MigrationInfo> Get();

    /// <summary>Completes when the migration has moved past <paramref name="version"/>, or after <paramref name="timeout"/>.</summary>
    /// <remarks>A short response timeout: a coordinator on a silo that died must not hold its follower for long.</remarks>
    [AlwaysInterleave, ResponseTimeout("00:00:10"), Alias("WaitForChange")]
    Task<MigrationInfo> WaitForChange(long version, TimeSpan timeout);

    /// <summary>
    /// The VM records <paramref name="migration"/> as under way and something was observed: look again (one-way). A
    /// coordinator with no such migration under way (its record lost, or ended before the VM heard) ends it on the VM.
    /// </summary>
    [OneWay, Alias("Wake"), HostInternal]
    Task Wake(string migration);

    /// <summary>
    /// From a host's digest: its placement of the VM at <paramref name="epoch"/> still holds a slot of
    /// <paramref name="migration"/>. A coordinator not running that migration gives the slot back (one-way).
    /// </summary>
    [OneWay, Alias("SlotHeld"), HostInternal]
    Task SlotHeld(string host, long epoch, string migration);
}

/// <summary>What an operator asks of a migration (<c>vm migrate</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationRequest")]
public sealed record MigrationRequest
{
    /// <summary>The target host; null: the scheduler picks one (capacity, selectors, cordons, anti-affinity).</summary>
    [Id(0)]
    public string? TargetHost { get; init; }

    /// <summary>The longest guest pause QEMU may plan for the final copy; null: 300 ms.</summary>
    [Id(1)]
    public int? DowntimeLimitMs { get; init; }

    /// <summary>A cap on the stream; null: unlimited.</summary>
    [Id(2)]
    public long? BandwidthBytesPerSecond { get; init; }

    /// <summary>Throttle a guest that dirties memory faster than it can be sent.</summary>
    [Id(3)]
    public bool AutoConverge { get; init; }

    /// <summary>Switch to post-copy when pre-copy does not finish within its budget.</summary>
    [Id(4)]
    public bool Postcopy { get; init; }

    public MigrationRequest Validate()
    {
        if (TargetHost is not null)
        {
            Names.Require("to", TargetHost);
        }

        if (DowntimeLimitMs is < 1 or > 60_000)
        {
            throw FabricException.InvalidSpec("downtimeLimit", $"{DowntimeLimitMs} ms is out of range (1–60000 ms)");
        }

        if (BandwidthBytesPerSecond is < 1 << 20)
        {
            throw FabricException.InvalidSpec("bandwidth", $"{BandwidthBytesPerSecond} bytes/s is below the minimum of 1 MiB/s");
        }

        return this;
    }
}

/// <summary>
/// The phases of a migration. Each is left only when an observed condition holds, and each has a deadline:
/// <c>Queued → Scheduling → PreparingTarget → TargetReady → Transferring → SwitchingOver → Succeeded</c>, or
/// <c>Failed</c> / <c>Cancelled</c> from any phase before the switch-over commits (docs/migration.md has the diagram).
/// Persisted by name.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<MigrationPhase>))]
public enum MigrationPhase
{
    /// <summary>Waiting for an outgoing migration slot on the source host.</summary>
    Queued,

    /// <summary>Reserving capacity on a target (and an incoming slot there).</summary>
    Scheduling,

    /// <summary>Launching the target's paused, incoming QEMU and opening its listener.</summary>
    PreparingTarget,

    /// <summary>The target listens; the source is about to send.</summary>
    TargetReady,

    /// <summary>
    /// Local-pool disks only: the source mirrors each disk into the target's NBD export until every mirror is in sync;
    /// the memory is sent only then.
    /// </summary>
    MirroringDisks,

    /// <summary>The source sends memory, pass after pass (or post-copy).</summary>
    Transferring,

    /// <summary>The target holds the whole VM: recording the new host, then resuming the guest there and stopping the source.</summary>
    SwitchingOver,

    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>A migration as operators see it (<c>vm migrate -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationInfo")]
public sealed record MigrationInfo
{
    [Id(0)]
    public required string Id { get; init; }

    [Id(1)]
    public required string Vm { get; init; }

    [Id(2)]
    public required MigrationPhase Phase { get; init; }

    [Id(3)]
    public required string From { get; init; }

    /// <summary>The target host once one is reserved.</summary>
    [Id(4)]
    public string? To { get; init; }

    [Id(5)]
    public DateTimeOffset StartedAt { get; init; }

    [Id(6)]
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Why it failed or was cancelled, or what it waits for.</summary>
    [Id(7)]
    public string? Reason { get; init; }

    /// <summary>From the request to the end (or until now).</summary>
    [Id(8)]
    public long TotalMs { get; init; }

    /// <summary>QEMU's own downtime figure (source side: from its stop to the end of the final copy).</summary>
    [Id(9)]
    public long? DowntimeMs { get; init; }

    /// <summary>From the source's STOP to the target's RESUME, by QEMU's event timestamps: the pause the guest saw.</summary>
    [Id(10)]
    public long? GuestPauseMs { get; init; }

    [Id(11)]
    public long TransferredBytes { get; init; }

    [Id(12)]
    public long RemainingBytes { get; init; }

    [Id(13)]
    public long TotalBytes { get; init; }

    [Id(14)]
    public long BytesPerSecond { get; init; }

    [Id(15)]
    public long DirtyBytesPerSecond { get; init; }

    /// <summary>Passes over memory (QEMU's dirty-sync count).</summary>
    [Id(16)]
    public long Passes { get; init; }

    [Id(17)]
    public int ThrottlePercent { get; init; }

    /// <summary>Whether the migration switched to post-copy.</summary>
    [Id(18)]
    public bool Postcopy { get; init; }

    /// <summary>QEMU's total time on the source (from <c>migrate</c> to completion).</summary>
    [Id(19)]
    public long? QemuTotalMs { get; init; }

    /// <summary>Rises at every change (see <see cref="IMigrationGrain.WaitForChange"/>).</summary>
    [Id(20)]
    public long Version { get; init; }

    [Id(21)]
    public MigrationRequest Request { get; init; } = new();

    /// <summary>The silo the coordinator runs on (it moves to another if that silo dies).</summary>
    [Id(22)]
    public string? Coordinator { get; init; }

    /// <summary>
    /// Whether both ends of the stream used TLS with the hosts' certificates (QEMU's <c>tls-creds</c> on the source
    /// and on the target); null until the switch-over, when both are read.
    /// </summary>
    [Id(23)]
    public bool? Encrypted { get; init; }

    public bool IsFinished => Phase is MigrationPhase.Succeeded or MigrationPhase.Failed or MigrationPhase.Cancelled;
}

/// <summary>One side's view of a migration, as its host reads it from QEMU.</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationSide")]
public sealed record MigrationSide
{
    /// <summary>QEMU's migration status (<c>none</c>, <c>active</c>, <c>completed</c>, <c>failed</c>, …); <c>absent</c>: no process.</summary>
    [Id(0)]
    public required string Status { get; init; }

    /// <summary>QEMU's run state (<c>running</c>, <c>paused</c>, <c>inmigrate</c>, <c>postmigrate</c>, …).</summary>
    [Id(1)]
    public required string RunState { get; init; }

    [Id(2)]
    public long TransferredBytes { get; init; }

    [Id(3)]
    public long RemainingBytes { get; init; }

    [Id(4)]
    public long TotalBytes { get; init; }

    [Id(5)]
    public long DirtyBytesPerSecond { get; init; }

    [Id(6)]
    public long BytesPerSecond { get; init; }

    [Id(7)]
    public long Passes { get; init; }

    [Id(8)]
    public int ThrottlePercent { get; init; }

    [Id(9)]
    public long? TotalMs { get; init; }

    [Id(10)]
    public long? DowntimeMs { get; init; }

    [Id(11)]
    public string? Error { get; init; }

    [Id(12)]
    public DateTimeOffset? StoppedAt { get; init; }

    [Id(13)]
    public DateTimeOffset? ResumedAt { get; init; }

    /// <summary>The process's placement epoch and instance (the side answering is the one asked about).</summary>
    [Id(14)]
    public long Epoch { get; init; }

    [Id(15)]
    public bool Alive { get; init; }

    [Id(16)]
    public string? ProcessReason { get; init; }

    /// <summary>The id of the TLS credentials this side's stream uses; empty: in the clear.</summary>
    [Id(17)]
    public string TlsCredentials { get; init; } = "";
}

/// <summary>Features both sides of a migration enable alike, and how the source sends.</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationStreamSettings")]
public sealed record MigrationStreamSettings(
    [property: Id(0)] bool Postcopy,
    [property: Id(1)] bool AutoConverge,
    [property: Id(2)] int? DowntimeLimitMs,
    [property: Id(3)] long? BandwidthBytesPerSecond);

/// <summary>What a migration coordinator learns from the VM as it begins: where it runs and what it needs.</summary>
[GenerateSerializer, Immutable, Alias("fabric.MigrationSource")]
public sealed record MigrationSource
{
    [Id(0)]
    public required VmAssignment Assignment { get; init; }

    /// <summary>The VM's reservation (its epoch to be replaced by the target's).</summary>
    [Id(1)]
    public required VmReservation Reservation { get; init; }

    [Id(2)]
    public required VmPlacement Placement { get; init; }

    /// <summary>Whether the guest ran when the migration began (a paused guest stays paused on the target).</summary>
    [Id(3)]
    public required bool WasRunning { get; init; }
}

/// <summary>Words the fabric's components agree on about migration limits.</summary>
public static class MigrationLimits
{
    /// <summary>In a host's refusal of a migration's target reservation: the host receives as many as it may; the migration waits.</summary>
    public const string IncomingSlotsFull = "incoming migration slots full";
}
