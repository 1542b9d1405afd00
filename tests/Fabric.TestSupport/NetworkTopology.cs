namespace Fabric.TestSupport;

/// <summary>Where the silos of a <see cref="FabricEnvironment"/> run on the network (docs/local-topology.md).</summary>
public enum NetworkTopology
{
    /// <summary>Every silo on 127.0.0.1, each with ports of its own (the default; needs no privileges).</summary>
    Loopback,

    /// <summary>
    /// Each silo in a network namespace of its own with an underlay address on a private bridge, as hosts on a
    /// network are (deploy/local/underlay.sh; needs root).
    /// </summary>
    Namespaces,
}
