namespace Fabric.EndToEndTests.Cluster;

/// <summary>
/// Tests that assert a wall-clock bound (host failure detection within 15 s) run alone, after the parallel ones: on
/// these two cores, two other fabrics starting QEMU guests beside them starve the probing silos, and Orleans then
/// lengthens its probe timeouts on purpose (a degraded prober must not evict healthy silos). The bound is about the
/// fabric's settings, not about a machine shared three ways.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "timing";
}
