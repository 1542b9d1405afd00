using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>How a failed call to a host grain is understood: refused (nothing happened) or of unknown outcome.</summary>
internal static class HostCalls
{
    /// <summary>
    /// True when the host certainly did nothing: it refused the request, or the message never reached it
    /// (no silo serves the host, or the silo was gone). A timeout is not a refusal: the host may have acted.
    /// </summary>
    public static bool IsRefusal(Exception exception) => exception switch
    {
        FabricException fabric => fabric.Code is ErrorCodes.Conflict or ErrorCodes.NotFound or ErrorCodes.InvalidSpec
            or ErrorCodes.Unavailable or ErrorCodes.InsufficientCapacity,
        SiloUnavailableException or OrleansMessageRejectionException => true,
        _ => false,
    };

    /// <summary>The fabric error to report for a failed host call.</summary>
    public static FabricException ToFabric(Exception exception, string host) => exception switch
    {
        FabricException fabric => fabric,
        SiloUnavailableException or OrleansMessageRejectionException =>
            FabricException.Unavailable($"host '{host}' is unreachable: {exception.Message}"),
        TimeoutException => FabricException.Unavailable($"host '{host}' did not answer in time; the outcome is unknown"),
        _ => FabricException.Hypervisor($"host '{host}': {exception.Message}"),
    };
}
