using Orleans.Configuration;

namespace Fabric.Silo;

/// <summary>
/// Orleans' default failure detection takes about 90 s to declare a silo dead; a host whose silo died must show Down
/// within 15 s. Probes every 2 s, two missed probes suspect a silo, and one vote declares it dead (a killed silo's
/// connections are refused at once, so probes fail fast and false suspicion is unlikely).
/// </summary>
internal static class FailureDetection
{
    public static void Configure(ISiloBuilder silo) => silo.Configure<ClusterMembershipOptions>(o =>
    {
        o.ProbeTimeout = TimeSpan.FromSeconds(2);
        o.NumMissedProbesLimit = 2;
        o.NumVotesForDeathDeclaration = 1;
        o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
    });
}
