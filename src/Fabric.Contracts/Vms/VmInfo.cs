using System.Collections.Immutable;

namespace Fabric.Contracts;

/// <summary>A VM as operators and programs see it (<c>vm get -o json</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmInfo")]
public sealed record VmInfo
{
    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public required VmState State { get; init; }

    /// <summary>The host the VM is placed on (its capacity is reserved there); empty when it is placed nowhere (a VM stopped by force while its host was Down).</summary>
    [Id(2)]
    public required string Host { get; init; }

    [Id(3)]
    public required int VCpus { get; init; }

    [Id(4)]
    public required int MemoryMiB { get; init; }

    [Id(5)]
    public required string Image { get; init; }

    [Id(6)]
    public ImmutableSortedDictionary<string, string> Labels { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>Why the VM is in its state, when that is not obvious (a crash, a guest power-off).</summary>
    [Id(7)]
    public string? Reason { get; init; }

    [Id(8)]
    public DateTimeOffset Since { get; init; }

    [Id(9)]
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The QEMU process id on <see cref="Host"/> while a process exists.</summary>
    [Id(10)]
    public int? Pid { get; init; }

    /// <summary>Identifies the current QEMU process; a new one is made at every start.</summary>
    [Id(11)]
    public Guid? InstanceId { get; init; }

    [Id(12)]
    public VmPlacement Placement { get; init; } = VmPlacement.None;

    /// <summary>False while the VM's host is Down: the VM is shown in its last known state, unreachable but not lost.</summary>
    [Id(13)]
    public bool Reachable { get; init; } = true;

    /// <summary>The latest lifecycle transitions, newest last (bounded); empty in listings.</summary>
    [Id(14)]
    public ImmutableArray<VmHistoryEntry> History { get; init; } = [];

    /// <summary>The placement epoch: it rises at every change of the VM's host assignment.</summary>
    [Id(15)]
    public long Epoch { get; init; }

    /// <summary>What an unfinished request waits for (e.g. its host to return), when something does.</summary>
    [Id(16)]
    public string? Waiting { get; init; }

    /// <summary>The phase of the migration under way (while <see cref="State"/> is Migrating).</summary>
    [Id(17)]
    public MigrationPhase? Migration { get; init; }

    /// <summary>The VM's disks, by slot.</summary>
    [Id(18)]
    public ImmutableArray<VmDisk> Disks { get; init; } = [];

    /// <summary>The VM's NICs, by slot.</summary>
    [Id(19)]
    public ImmutableArray<VmNic> Nics { get; init; } = [];

    /// <summary>The project the VM belongs to.</summary>
    [Id(20)]
    public string Project { get; init; } = ProjectInfo.Default;
}

/// <summary>One lifecycle transition of a VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmHistoryEntry")]
public sealed record VmHistoryEntry(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] VmState From,
    [property: Id(2)] VmState To,
    [property: Id(3)] string? Reason);

/// <summary>How to delete a VM.</summary>
[GenerateSerializer, Immutable, Alias("fabric.DeleteOptions")]
public sealed record DeleteOptions
{
    public static readonly DeleteOptions Normal = new();

    /// <summary>
    /// Delete whatever the VM's state: a process still running is stopped at once; when the VM's host is Down the
    /// record goes now and the host stops the stale process when it returns.
    /// </summary>
    [Id(0)]
    public bool Force { get; init; }
}

/// <summary>How to stop a VM: gracefully (ACPI power button, then quit, then kill) or at once.</summary>
[GenerateSerializer, Immutable, Alias("fabric.StopOptions")]
public sealed record StopOptions
{
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromSeconds(10);
    public static readonly StopOptions Graceful = new();

    /// <summary>
    /// Skip the ACPI power-down and stop the process at once. When the VM's host is Down the VM is recorded Stopped
    /// and released from that host now (epoch bumped); the host stops the stale process when it returns.
    /// </summary>
    [Id(0)]
    public bool Force { get; init; }

    /// <summary>How long the guest gets to power itself off after the ACPI request.</summary>
    [Id(1)]
    public TimeSpan GracePeriod { get; init; } = DefaultGracePeriod;
}

/// <summary>A slice of a VM's serial console log.</summary>
[GenerateSerializer, Immutable, Alias("fabric.ConsoleChunk")]
public sealed record ConsoleChunk(
    [property: Id(0)] byte[] Data,
    [property: Id(1)] long Offset,
    [property: Id(2)] long NextOffset,
    [property: Id(3)] Guid? InstanceId);
