using Fabric.Client;
using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.ControlPlane;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Snapshots;

/// <summary>
/// Snapshots with memory through the fabric: real silos, Redis and QEMU, with the <c>linux</c> guest ticking every
/// 0.5 s. A snapshot is taken while the guest keeps ticking; a restore returns it to that moment (the same boot, its
/// count back where it was); snapshots survive a silo restart, refuse what they must, and go with the VM. The invariant
/// check ends the test.
/// </summary>
public sealed class SnapshotThroughFabricTests(ITestOutputHelper output)
{
    private const string Vm = "keeper";

    [Fact]
    public async Task A_ticking_guest_is_snapshotted_without_stopping_and_restored_to_that_moment_with_its_boot_and_count()
    {
        await using var scenario = await FaultScenario.StartAsync(FaultScenario.PeersWherePossible, "host-a", "host-b");
        var client = scenario.Client;
        var snapshots = Path.Combine(scenario.Environment.Silos["host-a"].DataDirectory, "snapshots", Vm);
        await client.CreateVmAsync(new VmSpec { Name = Vm, Image = "linux", MemoryMiB = 256, Placement = new VmPlacement { Host = "host-a" } });
        var started = await client.StartVmAsync(Vm);
        var console = new VmConsole(client, Vm);
        var boot = await console.WaitForReadyAsync(TimeSpan.FromSeconds(120));
        await console.WaitForTickAsync(boot, after: 2);

        // Bad requests, each naming what is wrong.
        await AssertFails(ErrorCodes.NotFound, "vm 'nobody' does not exist", () => client.CreateSnapshotAsync("nobody", "s1"));
        await AssertFails(ErrorCodes.NotFound, "snapshot 'never' of vm 'keeper' does not exist", () => client.RestoreSnapshotAsync(Vm, "never"));
        await AssertFails(ErrorCodes.NotFound, "snapshot 'never' of vm 'keeper' does not exist", () => client.DeleteSnapshotAsync(Vm, "never"));
        await AssertFails(ErrorCodes.InvalidSpec, "snapshot: ", () => client.CreateSnapshotAsync(Vm, "../escape"));

        // Taken at tick N while the guest runs on.
        var before = await console.WaitForTickAsync(boot, after: 3);
        var taken = await client.CreateSnapshotAsync(Vm, "at-n");
        var after = (await console.ProtocolAsync()).Ticks.Max(t => t.N);
        output.WriteLine($"snapshot at tick {before}..{after}: {taken.Method}, guest pause {taken.GuestPauseMs} ms, {taken.SizeBytes} bytes, {taken.TotalMs} ms");

        // The guest ticked on while its memory was written (a tick is 0.5 s; a second is slack for a loaded machine).
        Assert.True(taken.TotalMs < 1_500 || after > before, $"no tick after {before} during a snapshot of {taken.TotalMs} ms");
        Assert.Equal(("at-n", "host-a", true, 256), (taken.Name, taken.Host, taken.WasRunning, taken.MemoryMiB));
        Assert.NotNull(taken.GuestPauseMs);
        Assert.InRange(taken.GuestPauseMs!.Value, 0, 3_000);
        Assert.Equal(new FileInfo(Path.Combine(snapshots, "at-n.state")).Length, taken.SizeBytes);
        var running = await client.GetVmAsync(Vm);
        Assert.Equal((VmState.Running, started.InstanceId, started.Pid), (running.State, running.InstanceId, running.Pid));
        Assert.DoesNotContain(running.History, h => h.To == VmState.Paused);

        // The moment of the snapshot (its start with background-snapshot, its end with a pre-copy) lies between tick
        // `before`, seen before the call, and tick `after`, seen once it returned; the first tick after a restore follows
        // that moment (one tick of slack for a line the console had not flushed). How long the call took to reach QEMU
        // on a loaded machine does not matter this way.
        var (first, last) = (before + 1, after + 2);

        // The guest keeps ticking well past that; then the restore takes it back.
        var past = await console.WaitForTickAsync(boot, after: last + 3);
        await AssertRestoredAsync(client, scenario, "at-n", boot, first, last, past, VmState.Running);
        var listed = Assert.Single(await client.ListSnapshotsAsync(Vm));
        Assert.Equal(taken, listed);
        await AssertFails(ErrorCodes.Conflict, "vm 'keeper' already has a snapshot 'at-n'", () => client.CreateSnapshotAsync(Vm, "at-n"));
        await scenario.AssertInvariantsAsync();

        // A silo restart keeps it listed (the record is in Redis, the file on disk) and restorable.
        await scenario.Environment.KillSiloAsync("host-a");
        await scenario.Environment.StartSiloAsync("host-a");
        Assert.Equal(taken, Assert.Single(await client.ListSnapshotsAsync(Vm)));
        past = await new VmConsole(client, Vm).WaitForTickAsync(boot, after: last + 4, timeout: TimeSpan.FromSeconds(60));
        await AssertRestoredAsync(client, scenario, "at-n", boot, first, last, past, VmState.Running);

        // A paused guest: no pause to report, it stays Paused, and its restore leaves it Paused.
        await client.PauseVmAsync(Vm);
        var paused = await client.CreateSnapshotAsync(Vm, "paused");
        Assert.Equal((false, (long?)null), (paused.WasRunning, paused.GuestPauseMs));
        Assert.Equal(VmState.Paused, (await client.GetVmAsync(Vm)).State);
        await client.ResumeVmAsync(Vm);
        var restoredPaused = await client.RestoreSnapshotAsync(Vm, "paused");
        Assert.Equal(VmState.Paused, restoredPaused.State);
        Assert.Equal(VmState.Running, (await client.ResumeVmAsync(Vm)).State);
        await new VmConsole(client, Vm).WaitForTickAsync(boot, timeout: TimeSpan.FromSeconds(30));
        Assert.Equal(["at-n", "paused"], (await client.ListSnapshotsAsync(Vm)).Select(s => s.Name));

        // While a migration holds the VM, every snapshot operation is refused (a slow one, cancelled afterwards).
        await client.MigrateVmAsync(Vm, new MigrationRequest { TargetHost = "host-b", BandwidthBytesPerSecond = 1 << 20 });
        await client.WaitForVmAsync(Vm, [VmState.Migrating], TimeSpan.FromSeconds(30));
        await AssertFails(ErrorCodes.Conflict, "vm 'keeper' is Migrating; cannot snapshot it", () => client.CreateSnapshotAsync(Vm, "during"));
        await AssertFails(ErrorCodes.Conflict, "vm 'keeper' is Migrating; cannot restore it", () => client.RestoreSnapshotAsync(Vm, "at-n"));
        await AssertFails(ErrorCodes.Conflict, "vm 'keeper' is Migrating; cannot delete a snapshot of it", () => client.DeleteSnapshotAsync(Vm, "paused"));
        await client.CancelMigrationAsync(Vm);
        Assert.Equal(MigrationPhase.Cancelled, (await client.WaitForMigrationAsync(Vm)).Phase);
        var stayed = await client.WaitForVmAsync(Vm, [VmState.Running], TimeSpan.FromSeconds(30));
        Assert.Equal((VmState.Running, "host-a"), (stayed.State, stayed.Host));

        // Delete removes the file.
        await client.DeleteSnapshotAsync(Vm, "paused");
        Assert.False(File.Exists(Path.Combine(snapshots, "paused.state")), "the deleted snapshot's file is still there");
        Assert.True(File.Exists(Path.Combine(snapshots, "at-n.state")));
        Assert.Equal(["at-n"], (await client.ListSnapshotsAsync(Vm)).Select(s => s.Name));

        // Moved to another host, the VM cannot restore a snapshot that stayed behind.
        await client.MigrateVmAsync(Vm, new MigrationRequest { TargetHost = "host-b" });
        var migrated = await client.WaitForMigrationAsync(Vm);
        Assert.True(migrated.Phase == MigrationPhase.Succeeded, $"{migrated.Phase}: {migrated.Reason}");
        await AssertFails(ErrorCodes.Conflict, "snapshot 'at-n' of vm 'keeper' is on host 'host-a', but the vm is placed on host 'host-b' now", () => client.RestoreSnapshotAsync(Vm, "at-n"));
        var there = await client.WaitForVmAsync(Vm, [VmState.Running], TimeSpan.FromSeconds(30));
        Assert.Equal((VmState.Running, "host-b"), (there.State, there.Host));
        await scenario.AssertInvariantsAsync();

        // Deleting the VM deletes its snapshots, on the host that holds them.
        await client.StopVmAsync(Vm, new StopOptions { Force = true });
        await client.DeleteVmAsync(Vm);
        Assert.False(Directory.Exists(snapshots), "the deleted VM's snapshot folder is still there");
        await scenario.AssertInvariantsAsync();
    }

    /// <summary>
    /// Restores <paramref name="snapshot"/> and checks the guest is back at its moment: a new instance, the same boot,
    /// and a count that resumes between <paramref name="first"/> and <paramref name="last"/> — well below
    /// <paramref name="past"/>, where it had got to — with the old process gone and the VM never Stopped or Failed.
    /// </summary>
    private async Task AssertRestoredAsync(FabricClient client, FaultScenario scenario, string snapshot, string boot, int first, int last, int past, VmState expected)
    {
        var before = await client.GetVmAsync(Vm);
        var restoring = System.Diagnostics.Stopwatch.StartNew();
        var restored = await client.RestoreSnapshotAsync(Vm, snapshot);
        output.WriteLine($"restore of {snapshot}: {restored.State} in {restoring.ElapsedMilliseconds} ms, instance {before.InstanceId} -> {restored.InstanceId}, pid {before.Pid} -> {restored.Pid}");
        Assert.Equal(expected, restored.State);
        Assert.NotEqual(before.InstanceId, restored.InstanceId);
        Assert.Equal((before.Host, before.Epoch), (restored.Host, restored.Epoch));
        var transitions = SinceRestore(restored);
        Assert.Equal([VmState.Starting, expected], transitions.Select(h => h.To));
        Assert.Equal($"restoring snapshot '{snapshot}'", transitions[0].Reason);

        var console = new VmConsole(client, Vm);
        var resumedAt = await console.WaitForTickAsync(boot, timeout: TimeSpan.FromSeconds(30));
        output.WriteLine($"first tick after the restore: {resumedAt} (the snapshot's moment {first}..{last}; the guest had reached {past})");
        Assert.InRange(resumedAt, first, last);
        Assert.True(resumedAt < past, $"tick {resumedAt} after the restore is not before {past}");
        var (readyBoots, ticks) = await console.ProtocolAsync();
        Assert.Empty(readyBoots);
        Assert.All(ticks, t => Assert.Equal(boot, t.Boot));

        // Reports keep coming every second here: the VM stays where the restore left it, on one process.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var settled = await client.GetVmAsync(Vm);
        Assert.Equal((expected, restored.InstanceId), (settled.State, settled.InstanceId));
        Assert.DoesNotContain(SinceRestore(settled), h => h.To is VmState.Stopped or VmState.Failed);
        Assert.Single(scenario.QemuOf(Vm));
    }

    /// <summary>The VM's transitions from the latest restore (its last move to Starting) on.</summary>
    private static List<VmHistoryEntry> SinceRestore(VmInfo vm) =>
        [.. vm.History.Skip(vm.History.ToList().FindLastIndex(h => h.To == VmState.Starting))];

    private static async Task AssertFails(string code, string message, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<FabricException>(call);
        Assert.Equal(code, error.Code);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }
}
