using System.Collections.Immutable;
using System.Text.Json;

namespace Fabric.Hypervisor.Networking;

/// <summary>One IPv4 address of a device.</summary>
internal sealed record LinkAddress(string Address, int PrefixLength)
{
    public override string ToString() => $"{Address}/{PrefixLength}";
}

/// <summary>
/// A network device as <c>ip -j -d address show</c> reports it: what the realizer compares with a plan. Only what it
/// needs is kept.
/// </summary>
/// <param name="Index">The ifindex (a device made again gets a new one).</param>
/// <param name="Name">The device's name.</param>
/// <param name="Kind"><c>info_kind</c>: <c>bridge</c>, <c>vxlan</c>, <c>tun</c>, <c>veth</c>, … (null for a plain device).</param>
/// <param name="Master">The bridge it is a port of, if any.</param>
/// <param name="Up">Administratively up (the <c>UP</c> flag).</param>
/// <param name="LowerUp">The carrier is on (<c>LOWER_UP</c>; only reported while the device is up). A tap has it while a process holds the tap open.</param>
/// <param name="Mtu">Its MTU.</param>
/// <param name="Ipv4Addresses">Its IPv4 addresses.</param>
/// <param name="InfoData">The kind's own details (<c>linkinfo.info_data</c>), read with <see cref="Number"/>, <see cref="String"/>, <see cref="Boolean"/>.</param>
internal sealed record Link(
    int Index,
    string Name,
    string? Kind,
    string? Master,
    bool Up,
    bool LowerUp,
    int Mtu,
    ImmutableArray<LinkAddress> Ipv4Addresses,
    JsonElement? InfoData)
{
    public bool IsTap => Kind == "tun" && String("type") == "tap";

    public int? Number(string name) =>
        InfoData is { } data && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number : null;

    public string? String(string name) =>
        InfoData is { } data && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public bool? Boolean(string name) =>
        InfoData is { } data && data.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;
}

internal static class Links
{
    /// <summary>Parses <c>ip -j -d address show</c>: every device of the namespace, by name.</summary>
    public static IReadOnlyDictionary<string, Link> Parse(string json)
    {
        var links = new Dictionary<string, Link>(StringComparer.Ordinal);
        using var document = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        foreach (var item in document.RootElement.EnumerateArray())
        {
            if (!item.TryGetProperty("ifname", out var nameElement) || nameElement.GetString() is not { } name)
            {
                continue;
            }

            var flags = item.TryGetProperty("flags", out var flagsElement) && flagsElement.ValueKind == JsonValueKind.Array
                ? flagsElement.EnumerateArray().Select(flag => flag.GetString()).OfType<string>().ToHashSet(StringComparer.Ordinal)
                : [];
            string? kind = null;
            JsonElement? infoData = null;
            if (item.TryGetProperty("linkinfo", out var linkInfo))
            {
                kind = linkInfo.TryGetProperty("info_kind", out var kindElement) ? kindElement.GetString() : null;
                infoData = linkInfo.TryGetProperty("info_data", out var data) ? data.Clone() : null;
            }

            var addresses = ImmutableArray.CreateBuilder<LinkAddress>();
            if (item.TryGetProperty("addr_info", out var addrInfo) && addrInfo.ValueKind == JsonValueKind.Array)
            {
                foreach (var address in addrInfo.EnumerateArray())
                {
                    if (address.TryGetProperty("family", out var family) && family.GetString() == "inet"
                        && address.TryGetProperty("local", out var local) && local.GetString() is { } text
                        && address.TryGetProperty("prefixlen", out var length))
                    {
                        addresses.Add(new LinkAddress(text, length.GetInt32()));
                    }
                }
            }

            links[name] = new Link(
                item.TryGetProperty("ifindex", out var index) ? index.GetInt32() : 0,
                name,
                kind,
                item.TryGetProperty("master", out var master) ? master.GetString() : null,
                flags.Contains("UP"),
                flags.Contains("LOWER_UP"),
                item.TryGetProperty("mtu", out var mtu) ? mtu.GetInt32() : 0,
                addresses.ToImmutable(),
                infoData);
        }

        return links;
    }

    /// <summary>The destinations of the all-zero MAC entries in <c>bridge -j fdb show dev VXLAN</c>: the flood list.</summary>
    public static ImmutableArray<string> FloodDestinations(string json)
    {
        using var document = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        return
        [
            .. document.RootElement.EnumerateArray()
                .Where(entry => entry.TryGetProperty("mac", out var mac) && mac.GetString() == "00:00:00:00:00:00")
                .Select(entry => entry.TryGetProperty("dst", out var dst) ? dst.GetString() : null)
                .OfType<string>()
                .Distinct(StringComparer.Ordinal),
        ];
    }
}
