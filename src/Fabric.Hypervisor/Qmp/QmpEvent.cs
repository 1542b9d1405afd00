using System.Text.Json;

namespace Fabric.Hypervisor.Qmp;

/// <summary>An asynchronous QMP event (SHUTDOWN, STOP, RESUME, RESET, …).</summary>
/// <param name="Name">The event name, e.g. <c>SHUTDOWN</c>.</param>
/// <param name="Data">The event's <c>data</c> object, or an undefined element when it has none.</param>
/// <param name="Timestamp">When QEMU emitted it.</param>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset Timestamp)
{
    public string? GetString(string property) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    public bool? GetBoolean(string property) =>
        Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(property, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;
}
