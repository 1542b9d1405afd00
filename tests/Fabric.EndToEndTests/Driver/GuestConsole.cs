using System.Text.RegularExpressions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>The test guests' console protocol (docs/guests.md).</summary>
internal static partial class GuestConsole
{
    /// <summary>A line that ends with the ready announcement (the linux guest may print a prompt before it).</summary>
    [GeneratedRegex(@"fabric-guest ready boot=(?<boot>[0-9a-f]+)$")]
    public static partial Regex Ready();

    [GeneratedRegex(@"tick (?<n>\d+) boot=(?<boot>[0-9a-f]+)$")]
    public static partial Regex Tick();

    /// <summary>The memwalk guest's heartbeat: n passes over its range are complete.</summary>
    [GeneratedRegex(@"pass (?<n>\d+) boot=(?<boot>[0-9a-f]+)$")]
    public static partial Regex Pass();

    /// <summary>The memwalk guest's range line: guest-physical base and size in hex, and the page stride.</summary>
    [GeneratedRegex(@"memwalk base=0x(?<base>[0-9a-f]+) size=0x(?<size>[0-9a-f]+) stride=(?<stride>\d+)$")]
    public static partial Regex MemwalkRange();

    /// <summary>The linux guest's network line: an interface got its address by DHCP (its MAC, the address and prefix).</summary>
    [GeneratedRegex(@"fabric-net (?<if>eth\d+) mac=(?<mac>[0-9a-f:]{17}) ip=(?<ip>[0-9.]+/\d+)$")]
    public static partial Regex NetUp();

    /// <summary>The linux guest's network line: an interface disappeared (unplugged).</summary>
    [GeneratedRegex(@"fabric-net (?<if>eth\d+) gone$")]
    public static partial Regex NetGone();

    public static string Boot(this Match match) => match.Groups["boot"].Value;

    public static int Count(this Match match) => int.Parse(match.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);

    public static long Hex(this Match match, string group) =>
        long.Parse(match.Groups[group].Value, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);
}
