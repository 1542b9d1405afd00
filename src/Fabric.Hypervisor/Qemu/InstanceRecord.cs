using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Hypervisor.Qemu;

/// <summary>How a process ended, as recorded next to it so a restarted driver can tell.</summary>
internal sealed record ExitRecord(ProcessPower Power, string Reason, DateTimeOffset At);

/// <summary>
/// <c>instance.json</c> in a VM's runtime directory: which process (placement epoch and instance id) the driver
/// launched, with what arguments, the pid of the launcher while the launch is under way, and — once observed — how it
/// ended. It is what re-attachment after a silo restart starts from.
/// </summary>
internal sealed record InstanceRecord(string Vm, long Epoch, Guid InstanceId, DateTimeOffset LaunchedAt, IReadOnlyList<string> Arguments, ExitRecord? Exit, int? LauncherPid = null)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter<ProcessPower>() },
    };

    public static InstanceRecord? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<InstanceRecord>(File.ReadAllText(path), Json) : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return null;
        }
    }

    /// <summary>Writes atomically (temp file, then rename), so a crash never leaves half a record.</summary>
    public void Write(string path)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }
}
