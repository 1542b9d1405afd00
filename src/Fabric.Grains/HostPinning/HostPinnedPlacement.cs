using Fabric.Contracts;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Fabric.Grains.HostPinning;

/// <summary>
/// Places a grain keyed by a host id on the silo that serves that host, and nowhere else: when no active silo serves
/// the host, activation fails with <c>unavailable</c> instead of falling back to another silo.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("fabric.HostPinnedPlacement")]
public sealed class HostPinnedPlacement : PlacementStrategy
{
    public static readonly HostPinnedPlacement Instance = new();
}

/// <summary>Marks a grain class (keyed by host id) as pinned to the silo serving that host.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class HostPinnedPlacementAttribute() : PlacementAttribute(HostPinnedPlacement.Instance);

/// <summary>Chooses, among the silos compatible with the grain, the one whose metadata lists the grain's host id.</summary>
public sealed class HostPinnedPlacementDirector(HostDirectory hosts) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var hostId = target.GrainIdentity.Key.ToString() ?? "";
        var silo = hosts.SiloOf(hostId);
        if (silo is not null && context.GetCompatibleSilos(target).Contains(silo))
        {
            return Task.FromResult(silo);
        }

        throw FabricException.Unavailable($"host '{hostId}' is not in the fabric: no running silo serves it");
    }
}
