using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>Capacity a VM holds on its host for as long as the VM exists, with what the host needs to launch it.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmReservation")]
public sealed record VmReservation
{
    [Id(0)]
    public required string Vm { get; init; }

    [Id(1)]
    public required Resources Resources { get; init; }

    [Id(2)]
    public required string Image { get; init; }

    [Id(3)]
    public string? AntiAffinityGroup { get; init; }

    [Id(4)]
    public string? AffinityGroup { get; init; }
}

/// <summary>What a host sees of a VM's process.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuntimePower>))]
public enum RuntimePower
{
    /// <summary>vCPUs running.</summary>
    Running,

    /// <summary>Process alive, vCPUs stopped.</summary>
    Paused,

    /// <summary>The guest powered itself off, or the host stopped the process on request.</summary>
    ShutDown,

    /// <summary>The process died without a shutdown (crash, signal, or gone while the host agent was away).</summary>
    Crashed,

    /// <summary>The host has no process for this VM.</summary>
    Absent,
}

/// <summary>An observation of one VM process, reported by its host to the VM grain (one-way).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmObservation")]
public sealed record VmObservation
{
    [Id(0)]
    public required string Host { get; init; }

    /// <summary>The process this observation is about (empty when the host has no record of any); reports about other processes are stale.</summary>
    [Id(1)]
    public required Guid InstanceId { get; init; }

    [Id(2)]
    public required RuntimePower Power { get; init; }

    [Id(3)]
    public string? Reason { get; init; }

    [Id(4)]
    public int? Pid { get; init; }

    /// <summary>When the host observed it; older observations than the VM's last one are ignored.</summary>
    [Id(5)]
    public DateTimeOffset At { get; init; }
}
