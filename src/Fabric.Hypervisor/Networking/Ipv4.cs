using System.Globalization;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// An IPv4 address read strictly: four decimal octets 0–255, no leading zeros, nothing else (unlike
/// <see cref="System.Net.IPAddress.TryParse(string?, out System.Net.IPAddress?)"/>, which also takes <c>10.1</c> or
/// <c>0x0a.0.0.1</c>). What it prints is what nft, ip and dnsmasq are given, so nothing else can reach them.
/// </summary>
internal readonly record struct Ipv4Address(uint Value)
{
    public static bool TryParse(string? text, out Ipv4Address address)
    {
        address = default;
        if (text is null)
        {
            return false;
        }

        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        uint value = 0;
        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !part.All(char.IsAsciiDigit))
            {
                return false;
            }

            var octet = uint.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture);
            if (octet > 255)
            {
                return false;
            }

            value = (value << 8) | octet;
        }

        address = new Ipv4Address(value);
        return true;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Value >> 24}.{(Value >> 16) & 0xff}.{(Value >> 8) & 0xff}.{Value & 0xff}");
}

/// <summary>An IPv4 prefix <c>a.b.c.d/n</c> whose host bits are all zero.</summary>
internal readonly record struct Ipv4Prefix(Ipv4Address Network, int Length)
{
    public uint Mask => Length == 0 ? 0 : uint.MaxValue << (32 - Length);

    public Ipv4Address Broadcast => new(Network.Value | ~Mask);

    public Ipv4Address Netmask => new(Mask);

    public static bool TryParse(string? text, out Ipv4Prefix prefix)
    {
        prefix = default;
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (text is null || slash < 0)
        {
            return false;
        }

        var length = text[(slash + 1)..];
        if (!Ipv4Address.TryParse(text[..slash], out var network)
            || length.Length is 0 or > 2 || (length.Length > 1 && length[0] == '0') || !length.All(char.IsAsciiDigit))
        {
            return false;
        }

        var bits = int.Parse(length, NumberStyles.None, CultureInfo.InvariantCulture);
        if (bits > 32)
        {
            return false;
        }

        var parsed = new Ipv4Prefix(network, bits);
        if ((network.Value & ~parsed.Mask) != 0)
        {
            return false;
        }

        prefix = parsed;
        return true;
    }

    public bool Contains(Ipv4Address address) => (address.Value & Mask) == Network.Value;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Network}/{Length}");
}
