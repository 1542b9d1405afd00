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

    public static string Boot(this Match match) => match.Groups["boot"].Value;

    public static int Count(this Match match) => int.Parse(match.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
}
