using System.Collections.Frozen;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Fabric.Grains.Placement;

/// <summary>
/// Which silo serves which host, read from Orleans membership (active silos) and silo metadata (the host ids each silo
/// published at start-up under <see cref="MetadataKey"/>). A host no active silo serves is Down.
/// </summary>
public sealed class HostDirectory(IClusterMembershipService membership, ISiloMetadataCache metadata)
{
    /// <summary>The silo metadata key whose value lists the host ids a silo serves, comma-separated.</summary>
    public const string MetadataKey = "fabric.hosts";

    private readonly Lock _lock = new();
    private MembershipVersion _version = MembershipVersion.MinValue;
    private FrozenDictionary<string, SiloAddress> _hosts = FrozenDictionary<string, SiloAddress>.Empty;
    private int _unresolvedSilos;

    /// <summary>The active silo serving <paramref name="hostId"/>, or null when the host is Down.</summary>
    public SiloAddress? SiloOf(string hostId) => Current().GetValueOrDefault(hostId);

    public bool IsUp(string hostId) => SiloOf(hostId) is not null;

    public static string FormatMetadata(IEnumerable<string> hostIds) => string.Join(',', hostIds);

    private FrozenDictionary<string, SiloAddress> Current()
    {
        var snapshot = membership.CurrentSnapshot;
        lock (_lock)
        {
            // Metadata arrives shortly after a silo joins: rebuild while some active silo's metadata is still missing.
            if (snapshot.Version == _version && _unresolvedSilos == 0)
            {
                return _hosts;
            }

            var hosts = new Dictionary<string, SiloAddress>(StringComparer.Ordinal);
            var unresolved = 0;
            foreach (var member in snapshot.Members.Values)
            {
                if (member.Status != SiloStatus.Active)
                {
                    continue;
                }

                if (!metadata.GetSiloMetadata(member.SiloAddress).Metadata.TryGetValue(MetadataKey, out var list))
                {
                    unresolved++;
                    continue;
                }

                foreach (var hostId in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    // Two live silos claiming one host: the newer generation wins (the older is on its way out).
                    if (!hosts.TryGetValue(hostId, out var existing) || existing.Generation < member.SiloAddress.Generation)
                    {
                        hosts[hostId] = member.SiloAddress;
                    }
                }
            }

            _hosts = hosts.ToFrozenDictionary(StringComparer.Ordinal);
            _version = snapshot.Version;
            _unresolvedSilos = unresolved;
            return _hosts;
        }
    }
}
