using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Hypervisor.Qemu;

/// <summary>How a process ended, as recorded next to it so a restarted driver can tell.</summary>
internal sealed record ExitRecord(ProcessPower Power, string Reason, DateTimeOffset At);

/// <summary>
/// <c>instance.json</c> in a VM's runtime directory: which process (placement epoch and instance id) the driver
/// launched, with what arguments, the pid of the launcher while the launch is under way, and — once observed — how it
/// ended; and its confinement: the uid it runs as and its cgroup. It is what re-attachment after a silo restart starts
/// from, and what tells clean-up whose files and which cgroup to take back.
/// </summary>
internal sealed record InstanceRecord(string Vm, long Epoch, Guid InstanceId, DateTimeOffset LaunchedAt, IReadOnlyList<string> Arguments, ExitRecord? Exit, int? LauncherPid = null, int? Uid = null, string? Cgroup = null)
{
    private static readonly JsonSerializerOptions Json = new(RecordFile.Json)
    {
        Converters = { new JsonStringEnumConverter<ProcessPower>() },
    };

    public static InstanceRecord? TryRead(string path) => RecordFile.TryRead<InstanceRecord>(path, Json);

    /// <summary>Writes atomically (temp file, then rename), so a crash never leaves half a record.</summary>
    public void Write(string path) => RecordFile.Write(path, this, Json);

    /// <summary>Whether the process was launched to receive a stream (a migration's target or a snapshot's restore).</summary>
    [JsonIgnore]
    public bool LaunchedIncoming => Arguments.Contains("-incoming");
}
