using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fabric.Contracts;

/// <summary>An IPv4 prefix (<c>10.10.0.0/24</c>) and the address arithmetic networks need.</summary>
public readonly record struct Ipv4Cidr(uint Network, int PrefixLength)
{
    /// <summary>A /29 (8 addresses: network, gateway, 5 for NICs, broadcast) is the smallest network.</summary>
    public const int MaxPrefixLength = 29;

    /// <summary>A /16 (65 534 addresses) is the largest: a NIC's MAC holds its offset in two bytes.</summary>
    public const int MinPrefixLength = 16;

    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public uint Broadcast => Network | ~Mask;

    /// <summary>Addresses in the prefix, network and broadcast included.</summary>
    public long Size => 1L << (32 - PrefixLength);

    public bool Contains(uint address) => (address & Mask) == Network;

    public bool Overlaps(Ipv4Cidr other)
    {
        var shorter = Math.Min(PrefixLength, other.PrefixLength);
        var mask = shorter == 0 ? 0 : uint.MaxValue << (32 - shorter);
        return (Network & mask) == (other.Network & mask);
    }

    /// <summary>The address at <paramref name="offset"/> from the network address.</summary>
    public uint At(long offset) => (uint)(Network + offset);

    public override string ToString() => $"{Format(Network)}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses <c>A.B.C.D/N</c> (host bits zero) with N in <paramref name="minPrefix"/>–<paramref name="maxPrefix"/>; throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static Ipv4Cidr Parse(string field, string? text, int minPrefix = 0, int maxPrefix = 32)
    {
        if (string.IsNullOrEmpty(text))
        {
            throw FabricException.InvalidSpec(field, "is required");
        }

        var slash = text.Split('/');
        if (slash.Length != 2 || !int.TryParse(slash[1], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix > 32
            || !TryParseAddress(slash[0], out var address))
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not an IPv4 prefix like 10.10.0.0/24");
        }

        var cidr = new Ipv4Cidr(address, prefix);
        if ((address & cidr.Mask) != address)
        {
            throw FabricException.InvalidSpec(field, $"'{text}' has host bits set; the prefix is {new Ipv4Cidr(address & cidr.Mask, prefix)}");
        }

        if (prefix > maxPrefix)
        {
            throw FabricException.InvalidSpec(field, $"/{prefix} is too small: the smallest is /{maxPrefix} ({1L << (32 - maxPrefix)} addresses, {(1L << (32 - maxPrefix)) - 3} for NICs)");
        }

        if (prefix < minPrefix)
        {
            throw FabricException.InvalidSpec(field, $"/{prefix} is too large: the largest is /{minPrefix}");
        }

        return cidr;
    }

    /// <summary>Parses a dotted IPv4 address; throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static uint ParseAddress(string field, string? text)
    {
        if (string.IsNullOrEmpty(text) || !TryParseAddress(text, out var address))
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text ?? "")}' is not an IPv4 address");
        }

        return address;
    }

    public static string Format(uint address)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, address);
        return new IPAddress(bytes).ToString();
    }

    /// <summary>Strict dotted quad: four decimal numbers 0–255, no leading zeros (no octal or hex surprises).</summary>
    private static bool TryParseAddress(string text, out uint address)
    {
        address = 0;
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0')
                || !int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var octet) || octet > 255)
            {
                return false;
            }

            address = (address << 8) | (uint)octet;
        }

        return IPAddress.TryParse(text, out var parsed) && parsed.AddressFamily == AddressFamily.InterNetwork;
    }
}
