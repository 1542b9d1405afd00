using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Snapshots with memory (<see cref="IVmSnapshots"/>).</summary>
public sealed partial class FabricClient
{
    /// <summary>
    /// Takes a snapshot of a Running or Paused VM while its guest keeps running; returns once the snapshot's file is
    /// complete, with the guest pause it caused, its size and how long it took.
    /// </summary>
    public Task<SnapshotInfo> CreateSnapshotAsync(string vm, string snapshot) =>
        Call(() => Snapshots(vm).CreateSnapshot(Names.Require("snapshot", snapshot)));

    /// <summary>The VM's snapshots, oldest first.</summary>
    public Task<ImmutableArray<SnapshotInfo>> ListSnapshotsAsync(string vm) => Call(() => Snapshots(vm).ListSnapshots());

    /// <summary>
    /// Returns the VM to the moment of the snapshot, as a new instance on the host that holds it: Running if the guest
    /// ran when it was taken, else Paused. Returns once the host answers.
    /// </summary>
    public Task<VmInfo> RestoreSnapshotAsync(string vm, string snapshot) =>
        Call(() => Snapshots(vm).RestoreSnapshot(Names.Require("snapshot", snapshot)));

    /// <summary>Deletes the snapshot's file on its host and forgets it.</summary>
    public Task DeleteSnapshotAsync(string vm, string snapshot) => Call(async () =>
    {
        await Snapshots(vm).DeleteSnapshot(Names.Require("snapshot", snapshot));
        return true;
    });

    private IVmSnapshots Snapshots(string name) => _client.GetGrain<IVmSnapshots>(Names.Require("name", name));
}
