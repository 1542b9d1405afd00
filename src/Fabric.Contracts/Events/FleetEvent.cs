using System.Text.Json.Serialization;

namespace Fabric.Contracts;

[JsonConverter(typeof(JsonStringEnumConverter<FleetEventKind>))]
public enum FleetEventKind
{
    /// <summary>A VM was created and placed on a host.</summary>
    VmPlaced,

    /// <summary>A VM's lifecycle state changed.</summary>
    VmStateChanged,

    /// <summary>A VM was deleted.</summary>
    VmDeleted,

    /// <summary>A host's state changed (Ready, Cordoned, Down, …).</summary>
    HostStateChanged,

    /// <summary>A VM's live migration switched it over to another host (<c>Host</c> is the new one).</summary>
    VmMigrated,
}

/// <summary>One event on the fleet-wide event stream (<c>fabricctl vm watch</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.FleetEvent")]
public sealed record FleetEvent
{
    [Id(0)]
    public required FleetEventKind Kind { get; init; }

    [Id(1)]
    public required DateTimeOffset At { get; init; }

    /// <summary>The VM concerned, or null for host events.</summary>
    [Id(2)]
    public string? Vm { get; init; }

    [Id(3)]
    public string? Host { get; init; }

    /// <summary>The state before (a <see cref="VmState"/> or <see cref="HostState"/> name).</summary>
    [Id(4)]
    public string? From { get; init; }

    [Id(5)]
    public string? To { get; init; }

    [Id(6)]
    public string? Reason { get; init; }

    /// <summary>The project of the VM concerned, or null for host events.</summary>
    [Id(7)]
    public string? Project { get; init; }
}

/// <summary>Where fleet events are published: one Orleans stream that clients subscribe to.</summary>
public static class FleetStreams
{
    /// <summary>The stream provider's name, on silos and clients alike.</summary>
    public const string Provider = "fleet";

    /// <summary>The stream namespace of fleet events.</summary>
    public const string Namespace = "fabric.events";

    /// <summary>The key of the one stream in <see cref="Namespace"/>.</summary>
    public const string Key = "all";
}
