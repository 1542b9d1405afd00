using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.Grains.Network;

/// <summary>
/// Which networks exist (<see cref="INetworkDirectoryGrain"/>), with their overlay ids and prefixes: a small persisted
/// map, bounded by <see cref="INetworkDirectoryGrain.MaxNetworks"/>. Overlay ids only rise (never reused), so a host
/// still tearing down a deleted network's devices can never mistake them for a new network's.
/// </summary>
internal sealed class NetworkDirectoryGrain(
    [PersistentState("networks", FabricPersistence.Name)] IPersistentState<NetworkDirectoryRecord> state) : Grain, INetworkDirectoryGrain
{
    /// <summary>The first overlay id handed out (low ones are left to operators' own VXLANs).</summary>
    public const int FirstVni = 4096;

    /// <summary>VXLAN's 24-bit id space.</summary>
    public const int MaxVni = 0xFFFFFF;

    async Task<int> INetworkDirectoryGrain.Add(string network, string cidr, bool exclusive)
    {
        Names.Require("network", network);
        var prefix = Ipv4Cidr.Parse("cidr", cidr);
        var entries = state.State.Networks;
        if (entries.TryGetValue(network, out var known))
        {
            return known.Cidr == prefix.ToString() ? known.Vni : throw FabricException.Conflict($"network '{network}' already exists with prefix {known.Cidr}");
        }

        foreach (var (name, entry) in entries)
        {
            if ((exclusive || entry.Exclusive) && Ipv4Cidr.Parse("cidr", entry.Cidr).Overlaps(prefix))
            {
                throw FabricException.Conflict(entry.Exclusive
                    ? $"cidr: {prefix} overlaps {entry.Cidr} of network '{name}', which is exclusive"
                    : $"cidr: {prefix} overlaps {entry.Cidr} of network '{name}', and network '{network}' asks to be exclusive");
            }
        }

        if (entries.Count >= INetworkDirectoryGrain.MaxNetworks)
        {
            throw FabricException.InsufficientCapacity($"the fabric holds {INetworkDirectoryGrain.MaxNetworks} networks, its limit");
        }

        var vni = Math.Max(state.State.NextVni, FirstVni);
        if (vni > MaxVni)
        {
            throw FabricException.InsufficientCapacity("every VXLAN id has been handed out");
        }

        await WriteAsync(new NetworkDirectoryRecord
        {
            Networks = entries.SetItem(network, new NetworkDirectoryEntry { Vni = vni, Cidr = prefix.ToString(), Exclusive = exclusive }),
            NextVni = vni + 1,
        });
        return vni;
    }

    async Task INetworkDirectoryGrain.Remove(string network)
    {
        if (state.State.Networks.ContainsKey(network))
        {
            await WriteAsync(new NetworkDirectoryRecord { Networks = state.State.Networks.Remove(network), NextVni = state.State.NextVni });
        }
    }

    Task<ImmutableArray<string>> INetworkDirectoryGrain.List() =>
        Task.FromResult<ImmutableArray<string>>([.. state.State.Networks.Keys.Order(StringComparer.Ordinal)]);

    private async Task WriteAsync(NetworkDirectoryRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            await state.ReadStateAsync();
            throw FabricException.Unavailable($"the network directory could not be written ({failure.Message})");
        }
    }
}

/// <summary>The network directory as stored (version 1).</summary>
[GenerateSerializer, Alias("fabric.NetworkDirectoryRecord")]
public sealed class NetworkDirectoryRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    [Id(1), JsonPropertyName("networks")]
    public ImmutableDictionary<string, NetworkDirectoryEntry> Networks { get; set; } = ImmutableDictionary<string, NetworkDirectoryEntry>.Empty;

    [Id(2), JsonPropertyName("nextVni")]
    public int NextVni { get; set; } = NetworkDirectoryGrain.FirstVni;
}

[GenerateSerializer, Immutable, Alias("fabric.NetworkDirectoryEntry")]
public sealed record NetworkDirectoryEntry
{
    [Id(0), JsonPropertyName("vni")]
    public int Vni { get; init; }

    [Id(1), JsonPropertyName("cidr")]
    public string Cidr { get; init; } = "";

    [Id(2), JsonPropertyName("exclusive")]
    public bool Exclusive { get; init; }
}
