using System.Globalization;
using Fabric.Contracts;

namespace Fabric.Cli.Output;

internal static class EventOutput
{
    /// <summary>
    /// One fleet event as one line: <c>HH:mm:ss.fff KIND VM/HOST FROM -&gt; TO [REASON]</c>, local time; a missing VM,
    /// host or state shows as <c>-</c> so every line has the same leading fields.
    /// </summary>
    public static string Line(FleetEvent fleetEvent, TimeZoneInfo? zone = null)
    {
        ArgumentNullException.ThrowIfNull(fleetEvent);
        var at = TimeZoneInfo.ConvertTime(fleetEvent.At, zone ?? TimeZoneInfo.Local);
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"{at:HH:mm:ss.fff} {fleetEvent.Kind} {Or(fleetEvent.Vm)}/{Or(fleetEvent.Host)} {Or(fleetEvent.From)} -> {Or(fleetEvent.To)}");
        return string.IsNullOrEmpty(fleetEvent.Reason) ? line : $"{line} {fleetEvent.Reason.ReplaceLineEndings(" ")}";
    }

    private static string Or(string? value) => string.IsNullOrEmpty(value) ? Cells.None : value;
}
