using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>How a request to a host ended, when it did not return an answer.</summary>
internal enum HostCallOutcome
{
    /// <summary>The host (or the way to it) refused before acting: nothing happened.</summary>
    Refused,

    /// <summary>The host tried and failed for certain (QEMU could not start): nothing runs.</summary>
    Failed,

    /// <summary>The host may have acted (timeout, its silo died mid-call): what it reports later settles it.</summary>
    Unknown,
}

/// <summary>How a failed call to a host grain is understood, and reported.</summary>
internal static class HostCalls
{
    /// <summary>
    /// Only an answer from the fabric itself is certain. A host throws <see cref="FabricException"/> before it acts (a
    /// stale epoch, an unknown VM, a ledger write that failed), and the placement director throws it when no silo
    /// serves the host; <c>hypervisor-error</c> means the driver tried and failed. Anything else — a timeout, a silo
    /// that died after the message reached it — leaves the outcome unknown.
    /// </summary>
    public static HostCallOutcome Classify(Exception exception) => exception switch
    {
        FabricException { Code: ErrorCodes.HypervisorError } => HostCallOutcome.Failed,
        FabricException => HostCallOutcome.Refused,
        _ => HostCallOutcome.Unknown,
    };

    /// <summary>The fabric error to report for a failed host call.</summary>
    public static FabricException ToFabric(Exception exception, string host) => exception switch
    {
        FabricException fabric => fabric,
        SiloUnavailableException or OrleansMessageRejectionException =>
            FabricException.Unavailable($"host '{host}' became unreachable during the call; the outcome is unknown ({exception.Message})"),
        TimeoutException => FabricException.Unavailable($"host '{host}' did not answer in time; the outcome is unknown"),
        _ => FabricException.Unavailable($"host '{host}': the call failed, the outcome is unknown ({exception.Message})"),
    };
}
