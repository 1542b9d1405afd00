using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>A VM's lifecycle state, as persisted and as shown to operators. Persisted by name, so members may be added.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VmState>))]
public enum VmState
{
    Defined,
    Starting,
    Running,
    Paused,
    Stopping,
    Stopped,
    Failed,
    Deleted,

    /// <summary>A live migration is under way (its coordinator owns the VM's lifecycle until it ends).</summary>
    Migrating,
}

/// <summary>What an operator asks a VM to do. Persisted by name (a request under way is part of a VM's record).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VmAction>))]
public enum VmAction
{
    Start,
    Stop,
    Pause,
    Resume,
    Reboot,
    Delete,
    Migrate,

    /// <summary>Take a snapshot with memory (the VM keeps its state).</summary>
    Snapshot,

    /// <summary>Start a new instance from a snapshot (through Starting, like a start).</summary>
    Restore,

    /// <summary>Delete one of the VM's snapshots (the VM keeps its state).</summary>
    DeleteSnapshot,
}
