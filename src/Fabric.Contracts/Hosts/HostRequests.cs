using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>Capacity a VM holds on its host for as long as the VM exists.</summary>
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

    [Id(5)]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;
}

/// <summary>Asks a host to launch one process for a reserved VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmLaunchRequest")]
public sealed record VmLaunchRequest(
    [property: Id(0)] string Vm,
    [property: Id(1)] Guid InstanceId);

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

    /// <summary>The process this observation is about; reports about other processes are stale and ignored.</summary>
    [Id(1)]
    public required Guid InstanceId { get; init; }

    [Id(2)]
    public required RuntimePower Power { get; init; }

    [Id(3)]
    public string? Reason { get; init; }

    [Id(4)]
    public int? Pid { get; init; }

    [Id(5)]
    public DateTimeOffset At { get; init; }
}
