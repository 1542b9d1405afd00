using Orleans.Configuration;

namespace Fabric.Silo;

/// <summary>How quickly a dead host silo is declared dead (setting <c>Fabric:FailureDetection</c>).</summary>
public enum FailureDetectionMode
{
    /// <summary>
    /// A host whose silo died must show Down within 15 s: probes time out after 2 s, two missed probes suspect a silo,
    /// and one vote declares it dead (a killed silo refuses connections at once, so its probes fail fast).
    /// </summary>
    Fast,

    /// <summary>Orleans' own defaults (slower, more tolerant of long pauses); the baseline of <c>./fabric bench detect</c>.</summary>
    OrleansDefault,
}

internal static class FailureDetection
{
    public static void Configure(ISiloBuilder silo, FailureDetectionMode mode)
    {
        if (mode != FailureDetectionMode.Fast)
        {
            return;
        }

        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
        });
    }
}
