using Orleans.Configuration;

namespace Fabric.Silo;

/// <summary>How a dead host silo is detected (setting <c>Fabric:FailureDetection</c>).</summary>
public enum FailureDetectionMode
{
    /// <summary>
    /// Fabric's settings for hosts on a real network: a killed host shows Down within 15 s, yet one slow probe or a
    /// GC pause of a few seconds never declares a live silo dead (see <see cref="FailureDetection"/>).
    /// </summary>
    Tuned,

    /// <summary>Orleans' own defaults (slower); the baseline of <c>./fabric bench detect</c>.</summary>
    OrleansDefault,
}

/// <summary>
/// Membership settings of <see cref="FailureDetectionMode.Tuned"/>. A silo probes the others every
/// <see cref="ProbePeriod"/>, and each probe may take that long to answer. Three missed probes in a row make the prober
/// vote (the third is sent through another silo), so a pause of up to two probe periods costs at most two missed
/// probes and suspects nobody. Two votes (where three or more silos run; Orleans asks for at most half the live silos)
/// declare a silo dead, so one confused or partitioned prober cannot evict a healthy host on its own. A killed silo
/// is then declared dead one to three probe periods plus two more after its death (measured: docs/benchmarks.md).
/// </summary>
internal static class FailureDetection
{
    public static readonly TimeSpan ProbePeriod = TimeSpan.FromSeconds(2);
    public const int MissedProbesLimit = 3;
    public const int VotesForDeath = 2;

    public static void Configure(ISiloBuilder silo, FailureDetectionMode mode)
    {
        if (mode != FailureDetectionMode.Tuned)
        {
            return;
        }

        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = ProbePeriod;
            o.NumMissedProbesLimit = MissedProbesLimit;
            o.NumVotesForDeathDeclaration = VotesForDeath;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(60);
        });
    }
}
