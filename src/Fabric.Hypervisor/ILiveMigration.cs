namespace Fabric.Hypervisor;

/// <summary>
/// Live migration of a VM's process to another machine with QEMU's own pre-copy (and post-copy) over TCP. The target
/// process is launched with <see cref="LaunchSpec.Incoming"/> (paused, waiting for a stream, the same instance id), then
/// listens (<see cref="ListenAsync"/>); the source sends to it (<see cref="SendAsync"/>). Neither side decides when the
/// guest runs on the target: the caller resumes it only after it has recorded the switch-over, so the guest never runs
/// in two places.
/// </summary>
public interface ILiveMigration
{
    /// <summary>
    /// Opens the target side: enables <paramref name="features"/> (both sides must agree), and starts listening on
    /// <paramref name="address"/> at a port the kernel picks. Returns the URI the source sends to (<c>tcp:ADDRESS:PORT</c>).
    /// </summary>
    Task<string> ListenAsync(string vm, string address, MigrationFeatures features, CancellationToken cancellationToken);

    /// <summary>Starts sending the VM's state to <paramref name="uri"/>; returns once QEMU has accepted the request.</summary>
    Task SendAsync(string vm, string uri, MigrationSettings settings, CancellationToken cancellationToken);

    /// <summary>How the migration stands on this side (QEMU's <c>query-migrate</c>, plus the run state and pause events).</summary>
    Task<MigrationProgress> QueryAsync(string vm, CancellationToken cancellationToken);

    /// <summary>
    /// Cancels an outgoing migration (harmless when none runs) and waits until QEMU has let it go. Then the guest runs
    /// when <paramref name="resume"/>, and is otherwise in an ordinary pause — never left in QEMU's <c>postmigrate</c>
    /// state, from which no later migration or snapshot could start.
    /// </summary>
    Task<MigrationProgress> CancelAsync(string vm, bool resume, CancellationToken cancellationToken);

    /// <summary>Switches a running pre-copy migration to post-copy (it must have been started with <see cref="MigrationFeatures.Postcopy"/>).</summary>
    Task StartPostcopyAsync(string vm, CancellationToken cancellationToken);
}

/// <summary>Migration features that both sides must enable alike.</summary>
/// <param name="Postcopy">Allow switching to post-copy (QEMU's <c>postcopy-ram</c>; needs userfaultfd on the target).</param>
public sealed record MigrationFeatures(bool Postcopy);

/// <summary>How the source sends.</summary>
/// <param name="Features">Must equal the target's.</param>
/// <param name="AutoConverge">Throttle the guest's vCPUs while it dirties memory faster than it is sent.</param>
/// <param name="DowntimeLimit">The longest pause QEMU may plan for the final copy; null: QEMU's default (300 ms).</param>
/// <param name="BandwidthBytesPerSecond">A cap on the stream; null: unlimited.</param>
public sealed record MigrationSettings(MigrationFeatures Features, bool AutoConverge, TimeSpan? DowntimeLimit, long? BandwidthBytesPerSecond);

/// <summary>
/// One side's view of a migration. <see cref="Status"/> is QEMU's (<c>none</c>, <c>setup</c>, <c>active</c>,
/// <c>postcopy-active</c>, <c>device</c>, <c>completed</c>, <c>failed</c>, <c>cancelling</c>, <c>cancelled</c>, …);
/// <see cref="RunState"/> is the VM's (<c>inmigrate</c>, <c>running</c>, <c>paused</c>, <c>postmigrate</c>, …).
/// </summary>
public sealed record MigrationProgress
{
    public required string Status { get; init; }

    public required string RunState { get; init; }

    public long TransferredBytes { get; init; }

    /// <summary>The id of the TLS credentials this side's stream uses (QEMU's <c>tls-creds</c>); empty: in the clear.</summary>
    public string TlsCredentials { get; init; } = "";

    public long RemainingBytes { get; init; }

    public long TotalBytes { get; init; }

    /// <summary>Pages the guest dirties per second, times the page size.</summary>
    public long DirtyBytesPerSecond { get; init; }

    /// <summary>The stream's throughput as QEMU measures it.</summary>
    public long BytesPerSecond { get; init; }

    /// <summary>Passes over memory so far (QEMU's dirty-sync count).</summary>
    public long Passes { get; init; }

    /// <summary>CPU throttle applied by auto-converge, in percent.</summary>
    public int ThrottlePercent { get; init; }

    public long? TotalMs { get; init; }

    /// <summary>QEMU's downtime figure (on the source: from its stop to the end of the final copy).</summary>
    public long? DowntimeMs { get; init; }

    public long? SetupMs { get; init; }

    public string? Error { get; init; }

    /// <summary>When the guest's vCPUs last stopped on this side (QMP <c>STOP</c> event time).</summary>
    public DateTimeOffset? StoppedAt { get; init; }

    /// <summary>When the guest's vCPUs last resumed on this side (QMP <c>RESUME</c> event time).</summary>
    public DateTimeOffset? ResumedAt { get; init; }

    public bool IsFinished => Status is "completed" or "failed" or "cancelled";
}
