using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// The fleet's inventory and placement authority (one activation, key <see cref="Key"/>): hosts push their summaries to
/// it, it answers host listings (marking hosts whose silo is gone as Down) and places VMs by filter → score → reserve.
/// The reservation itself is atomic on the chosen host grain, so a stale view can never over-commit a host.
/// </summary>
[Alias("fabric.ISchedulerGrain")]
public interface ISchedulerGrain : IGrainWithStringKey
{
    public const string Key = "fabric";

    /// <summary>Chooses a host for the request and reserves capacity there, or throws <c>insufficient-capacity</c> saying why each host was excluded.</summary>
    [Alias("Place"), HostInternal]
    Task<PlacementDecision> Place(PlacementRequest request);

    /// <summary>A host's summary after a change (one-way; older sequences are ignored).</summary>
    [OneWay, Alias("ReportHost"), HostInternal]
    Task ReportHost(HostInfo host);

    [AlwaysInterleave, Alias("ListHosts")]
    Task<ImmutableArray<HostInfo>> ListHosts();

    /// <summary>The last summary of a host, or null when the fabric never saw it.</summary>
    [AlwaysInterleave, Alias("GetHost")]
    Task<HostInfo?> GetHost(string host);

    /// <summary>
    /// Forgets a Down host: its machine binding, settings, ledger and inventory entry, so another machine may serve that
    /// host id. Refused with <c>conflict</c> while the host is up or any VM that is not deleted is placed on it.
    /// </summary>
    [Alias("Forget")]
    Task Forget(string host);
}

/// <summary>What the scheduler must place.</summary>
[GenerateSerializer, Immutable, Alias("fabric.PlacementRequest")]
public sealed record PlacementRequest
{
    [Id(0)]
    public required VmReservation Reservation { get; init; }

    [Id(1)]
    public required VmPlacement Placement { get; init; }

    /// <summary>Hosts that may not take the VM (a migration's source).</summary>
    [Id(2)]
    public System.Collections.Immutable.ImmutableArray<string> ExcludedHosts { get; init; } = [];

    /// <summary>
    /// The only hosts that may take the VM, with why (the hosts holding its local-pool volumes, or the images its new
    /// volumes are cloned from); null: any host.
    /// </summary>
    [Id(3)]
    public HostConstraint? AllowedHosts { get; init; }
}

/// <summary>A set of hosts a VM must be placed within, and the reason, for the error that names it.</summary>
[GenerateSerializer, Immutable, Alias("fabric.HostConstraint")]
public sealed record HostConstraint(
    [property: Id(0)] System.Collections.Immutable.ImmutableSortedSet<string> Hosts,
    [property: Id(1)] string Reason)
{
    /// <summary>Both constraints at once (null means none).</summary>
    public static HostConstraint? Intersect(HostConstraint? a, HostConstraint? b) =>
        a is null ? b : b is null ? a : new HostConstraint(a.Hosts.Intersect(b.Hosts), $"{a.Reason}; {b.Reason}");
}

/// <summary>Where a VM was placed, and by which policy.</summary>
[GenerateSerializer, Immutable, Alias("fabric.PlacementDecision")]
public sealed record PlacementDecision(
    [property: Id(0)] string Host,
    [property: Id(1)] PlacementPolicy Policy,
    [property: Id(2)] int CandidateCount);
