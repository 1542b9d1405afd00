using System.Globalization;
using System.Text.RegularExpressions;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// The names this driver gives things on a host, all derived from the network's VNI written as 6 lower-case hex
/// digits (<c>4097</c> → <c>001001</c>): the bridge <c>fb001001</c>, the VXLAN device <c>fx001001</c>, the nftables
/// tables <c>inet fabnet-001001</c> and <c>bridge fabnet-001001</c>, the folder <c>networks/001001</c>. A bridge named
/// <c>fb</c> and 6 hex digits is this driver's; nothing else is ever touched but the taps the plans name.
/// </summary>
internal static partial class NetworkNames
{
    public const int MinVni = 1;
    public const int MaxVni = 0xFFFFFF;

    private const string BridgePrefix = "fb";
    private const string VxlanPrefix = "fx";

    public static string Id(int vni) => vni.ToString("x6", CultureInfo.InvariantCulture);

    public static string Bridge(int vni) => BridgePrefix + Id(vni);

    public static string Vxlan(int vni) => VxlanPrefix + Id(vni);

    public static string Table(int vni) => "fabnet-" + Id(vni);

    public static bool IsValidVni(int vni) => vni is >= MinVni and <= MaxVni;

    public static bool IsValidTap(string? tap) => tap is not null && TapName().IsMatch(tap) && !IsDeviceName(tap);

    public static bool IsValidNetworkName(string? name) => name is not null && NetworkName().IsMatch(name);

    /// <summary>The VNI of this driver's bridge <paramref name="ifname"/>, or null when it is not one.</summary>
    public static int? VniOfBridge(string ifname)
    {
        var match = DeviceName().Match(ifname);
        if (!match.Success || match.Groups[1].Value != BridgePrefix)
        {
            return null;
        }

        var vni = int.Parse(match.Groups[2].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return IsValidVni(vni) ? vni : null;
    }

    /// <summary>Throws <c>InvalidRequest</c> unless <paramref name="vni"/> is 1–16777215.</summary>
    public static void EnsureVni(int vni)
    {
        if (!IsValidVni(vni))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"vni {vni} is out of range {MinVni}–{MaxVni}");
        }
    }

    /// <summary>Throws <c>InvalidRequest</c> unless <paramref name="tap"/> is 1–15 of a-z and 0-9, and not a name of this driver's devices.</summary>
    public static void EnsureTap(string? tap, string field)
    {
        if (!IsValidTap(tap))
        {
            throw new HypervisorException(
                HypervisorErrorKind.InvalidRequest,
                $"{field} '{tap}' must be 1–15 characters of a-z and 0-9, and not a bridge or VXLAN name (fb/fx and 6 hex digits)");
        }
    }

    /// <summary>fb or fx and 6 hex digits: the bridges' and VXLAN devices' names, which no tap may take.</summary>
    private static bool IsDeviceName(string name) => DeviceName().IsMatch(name);

    // \z, not $: in .NET '$' also matches before a final newline.
    [GeneratedRegex("^[a-z0-9]{1,15}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TapName();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NetworkName();

    [GeneratedRegex("^(fb|fx)([0-9a-f]{6})\\z", RegexOptions.CultureInvariant)]
    private static partial Regex DeviceName();
}
