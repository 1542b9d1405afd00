using Fabric.Contracts;
using Fabric.Hypervisor;

namespace Fabric.Grains.Host;

/// <summary>Translates the driver's failures into the fabric's error codes.</summary>
internal static class DriverErrors
{
    public static FabricException ToFabric(this HypervisorException exception) => exception.Kind switch
    {
        HypervisorErrorKind.InvalidRequest => new FabricException(ErrorCodes.InvalidSpec, exception.Message),
        HypervisorErrorKind.NotFound => new FabricException(ErrorCodes.NotFound, exception.Message),
        HypervisorErrorKind.Conflict => new FabricException(ErrorCodes.Conflict, exception.Message),
        HypervisorErrorKind.NoSpace => new FabricException(ErrorCodes.InsufficientCapacity, exception.Message),
        _ => FabricException.Hypervisor(exception.Message),
    };

    public static RuntimePower ToRuntime(this ProcessPower power) => power switch
    {
        ProcessPower.Running => RuntimePower.Running,
        ProcessPower.Paused => RuntimePower.Paused,
        ProcessPower.ShutDown => RuntimePower.ShutDown,
        ProcessPower.Crashed => RuntimePower.Crashed,
        _ => RuntimePower.Absent,
    };
}
