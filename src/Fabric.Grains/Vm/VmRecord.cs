using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>A VM's persisted record. Small and bounded: the history keeps the last <see cref="MaxHistory"/> transitions.</summary>
[GenerateSerializer, Alias("fabric.VmRecord")]
public sealed class VmRecord
{
    public const int MaxHistory = 8;

    /// <summary>The validated spec; null when the VM does not exist.</summary>
    [Id(0)]
    public VmSpec? Spec { get; set; }

    [Id(1)]
    public VmState State { get; set; }

    /// <summary>The host holding the VM's reservation.</summary>
    [Id(2)]
    public string Host { get; set; } = "";

    /// <summary>The process the VM should have (set at start); observations of other processes are stale.</summary>
    [Id(3)]
    public Guid? InstanceId { get; set; }

    [Id(4)]
    public int? Pid { get; set; }

    [Id(5)]
    public string? Reason { get; set; }

    [Id(6)]
    public DateTimeOffset Since { get; set; }

    [Id(7)]
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the latest applied observation was made; older ones arriving late are ignored.</summary>
    [Id(8)]
    public DateTimeOffset LastObservedAt { get; set; }

    [Id(9)]
    public List<VmHistoryEntry> History { get; set; } = [];

    public bool Exists => Spec is not null;

    /// <summary>A copy to restore when a request the host refused must leave the VM as it was.</summary>
    public VmRecord Copy()
    {
        var copy = (VmRecord)MemberwiseClone();
        copy.History = [.. History];
        return copy;
    }
}
