using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// What every device the driver adds has in common, whatever it is (<see cref="VirtioDisk"/>, <see cref="VirtioNic"/>):
/// one list of properties gives both its <c>-device</c> value and its QMP <c>device_add</c> arguments, so a hot-plugged
/// device is exactly the device a process launched with it has; and the ids of the devices a process holds.
/// </summary>
public static class QemuDevice
{
    /// <summary>The <c>-device</c> value: <c>driver,key=value,…</c> (every value is a safe token; the driver comes first).</summary>
    public static string Option(IReadOnlyList<KeyValuePair<string, string>> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        return string.Join(',', properties.Select(p => p.Key == "driver" ? p.Value : $"{p.Key}={p.Value}"));
    }

    /// <summary>The arguments of QMP <c>device_add</c>: the same properties as <see cref="Option"/>.</summary>
    public static JsonObject DeviceAdd(IReadOnlyList<KeyValuePair<string, string>> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var arguments = new JsonObject();
        foreach (var (key, value) in properties)
        {
            arguments[key] = value;
        }

        return arguments;
    }

    /// <summary>The ids of the devices the user created (QMP <c>qom-list</c> of <c>/machine/peripheral</c>).</summary>
    public static ImmutableHashSet<string> PeripheralIds(JsonElement qomList)
    {
        var ids = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        if (qomList.ValueKind == JsonValueKind.Array)
        {
            foreach (var property in qomList.EnumerateArray())
            {
                if (Text(property, "type") is { } type && type.StartsWith("child<", StringComparison.Ordinal) && Text(property, "name") is { } name)
                {
                    ids.Add(name);
                }
            }
        }

        return ids.ToImmutable();
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
