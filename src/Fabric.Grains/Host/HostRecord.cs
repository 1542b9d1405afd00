namespace Fabric.Grains.Host;

/// <summary>A host's persisted settings (small and bounded: reservations live in the reservation ledger).</summary>
[GenerateSerializer, Alias("fabric.HostRecord")]
public sealed class HostRecord
{
    /// <summary>Whether an operator cordoned the host: it takes no new VMs.</summary>
    [Id(0)]
    public bool Cordoned { get; set; }
}
