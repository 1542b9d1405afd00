using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Migration;

/// <summary>
/// Faults during a live migration, each injected while the coordinator is held in a phase (a test barrier, see
/// <see cref="MigrationFabric"/>), then released: the VM ends Running on exactly one host — the source unless the
/// switch-over committed — or Failed with the reason when its own QEMU died; never on two hosts, never lost, nothing
/// left behind. Every case ends with the shared invariant check.
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class MigrationFaultTests(MigrationFabric fabric, ITestOutputHelper output)
{
    public static TheoryData<MigrationPhase> PhasesBeforeCommit() =>
        [MigrationPhase.Queued, MigrationPhase.Scheduling, MigrationPhase.PreparingTarget, MigrationPhase.TargetReady, MigrationPhase.Transferring, MigrationPhase.SwitchingOver];

    public static TheoryData<MigrationPhase> PhasesWithATarget() =>
        [MigrationPhase.TargetReady, MigrationPhase.Transferring, MigrationPhase.SwitchingOver];

    [Theory]
    [MemberData(nameof(PhasesBeforeCommit))]
    public async Task Cancel_in_any_phase_before_the_switch_over_leaves_the_vm_running_on_its_source(MigrationPhase phase)
    {
        var name = $"cancel-{phase.ToString().ToLowerInvariant()}";
        var (before, boot) = await fabric.RunTinyAsync(name);
        var end = await HeldAsync(name, phase, async () =>
        {
            var cancelled = await fabric.Client.CancelMigrationAsync(name);
            Assert.Equal(MigrationPhase.Cancelled, cancelled.Phase);
        });

        Assert.Equal(MigrationPhase.Cancelled, end.Phase);
        Assert.Contains($"in phase {phase}", end.Reason, StringComparison.Ordinal);
        await AssertRunsOnAsync(name, "host-a", before.Pid);
        await fabric.AssertTicksAsync(name, boot);
        await ConflictAsync(() => fabric.Client.CancelMigrationAsync(name));
        await fabric.Scenario.AssertInvariantsAsync();
    }

    [Theory]
    [MemberData(nameof(PhasesWithATarget))]
    public async Task A_killed_target_qemu_leaves_the_vm_running_on_its_source(MigrationPhase phase)
    {
        var name = $"tkill-{phase.ToString().ToLowerInvariant()}";
        var (before, boot) = await fabric.RunTinyAsync(name);
        var end = await HeldAsync(name, phase, () =>
        {
            var target = fabric.Environment.QemuPidsOf("host-b").Single(pid => ProcessSweep.IsQemuOf(pid, name));
            Processes.Kill(target);
            return Task.CompletedTask;
        });

        Assert.Equal(MigrationPhase.Failed, end.Phase);
        await AssertRunsOnAsync(name, "host-a", before.Pid);
        await fabric.AssertTicksAsync(name, boot);
        await fabric.Scenario.AssertInvariantsAsync();
    }

    [Theory]
    [InlineData(MigrationPhase.TargetReady)]
    [InlineData(MigrationPhase.Transferring)]
    [InlineData(MigrationPhase.SwitchingOver)]
    public async Task A_killed_source_qemu_fails_the_vm_unless_the_target_already_holds_all_of_it(MigrationPhase phase)
    {
        var name = $"skill-{phase.ToString().ToLowerInvariant()}";
        var (before, boot) = await fabric.RunTinyAsync(name);
        var end = await HeldAsync(name, phase, () =>
        {
            Processes.Kill(before.Pid!.Value);
            return Task.CompletedTask;
        });

        var vm = await fabric.Client.GetVmAsync(name);
        output.WriteLine($"{phase}: migration {end.Phase} ({end.Reason}); vm {vm.State} on {vm.Host} ({vm.Reason})");

        // Before anything was sent the VM is lost with its QEMU; once pre-copy has finished the paused target holds the
        // whole guest, which goes on there; mid-transfer it depends on whether the target had it all when the source died.
        var targetHadItAll = phase == MigrationPhase.SwitchingOver || (phase == MigrationPhase.Transferring && end.Phase == MigrationPhase.Succeeded);
        if (targetHadItAll)
        {
            Assert.Equal(MigrationPhase.Succeeded, end.Phase);
            await AssertRunsOnAsync(name, "host-b", previousPid: null);
            await fabric.AssertTicksAsync(name, boot);
        }
        else
        {
            Assert.Equal(MigrationPhase.Failed, end.Phase);
            Assert.Equal(VmState.Failed, vm.State);
            Assert.Contains("source QEMU ended", vm.Reason, StringComparison.Ordinal);
        }

        await fabric.Scenario.AssertInvariantsAsync();
    }

    [Theory]
    [InlineData(MigrationPhase.PreparingTarget)]
    [InlineData(MigrationPhase.Transferring)]
    [InlineData(MigrationPhase.SwitchingOver)]
    public async Task A_target_host_whose_silo_dies_is_abandoned_and_fenced_when_it_returns(MigrationPhase phase)
    {
        await using var restore = new SilosRestored(fabric);
        var name = $"tsilo-{phase.ToString().ToLowerInvariant()}";
        var (before, boot) = await fabric.RunTinyAsync(name);
        var end = await HeldAsync(name, phase, () => fabric.Environment.KillSiloAsync("host-b"));
        Assert.Equal(MigrationPhase.Failed, end.Phase);
        await AssertRunsOnAsync(name, "host-a", before.Pid, alone: false);
        await fabric.AssertTicksAsync(name, boot);

        // The target's QEMU outlived its silo; the returning host learns its placement was abandoned and stops it.
        await fabric.EnsureSiloAsync("host-b");
        await fabric.Scenario.AssertInvariantsAsync();
        Assert.Single(fabric.Scenario.QemuOf(name));
    }

    [Fact]
    public async Task A_source_host_whose_silo_dies_before_sending_ends_the_migration_and_the_vm_stays_there()
    {
        await using var restore = new SilosRestored(fabric);
        var (before, boot) = await fabric.RunTinyAsync("ssilo-early");
        var end = await HeldAsync("ssilo-early", MigrationPhase.TargetReady, () => fabric.Environment.KillSiloAsync("host-a"));
        Assert.Equal(MigrationPhase.Failed, end.Phase);
        Assert.Contains("host 'host-a' has been Down", end.Reason, StringComparison.Ordinal);

        await fabric.EnsureSiloAsync("host-a");
        await AssertRunsOnAsync("ssilo-early", "host-a", before.Pid);
        await fabric.AssertTicksAsync("ssilo-early", boot);
        await fabric.Scenario.AssertInvariantsAsync();
    }

    [Fact]
    public async Task A_source_host_whose_silo_dies_mid_transfer_still_hands_the_vm_over_and_its_qemu_is_fenced_on_return()
    {
        await using var restore = new SilosRestored(fabric);
        var (_, boot) = await fabric.RunTinyAsync("ssilo");
        var end = await HeldAsync("ssilo", MigrationPhase.Transferring, () => fabric.Environment.KillSiloAsync("host-a"));
        output.WriteLine($"migration {end.Phase}: {end.Reason}");
        Assert.Equal(MigrationPhase.Succeeded, end.Phase);
        await AssertRunsOnAsync("ssilo", "host-b", previousPid: null, alone: false);
        await fabric.AssertTicksAsync("ssilo", boot);

        await fabric.EnsureSiloAsync("host-a");
        await fabric.Scenario.AssertInvariantsAsync();
        Assert.Single(fabric.Scenario.QemuOf("ssilo"));
    }

    [Theory]
    [InlineData(MigrationPhase.Scheduling)]
    [InlineData(MigrationPhase.TargetReady)]
    [InlineData(MigrationPhase.Transferring)]
    [InlineData(MigrationPhase.SwitchingOver)]
    public async Task The_coordinators_silo_dying_only_delays_the_migration(MigrationPhase phase)
    {
        var name = $"coord-{phase.ToString().ToLowerInvariant()}";
        await using var restore = new SilosRestored(fabric);
        var (_, boot) = await fabric.RunTinyAsync(name);
        string? killed = null;
        var end = await HeldAsync(name, phase, async () =>
        {
            var held = await fabric.Client.GetMigrationAsync(name);
            killed = fabric.HostOfSilo(held.Coordinator!);
            await fabric.Environment.KillSiloAsync(killed);
        });

        await fabric.EnsureSiloAsync(killed!);
        var vm = await fabric.Client.WaitForVmAsync(name, [VmState.Running], TimeSpan.FromSeconds(30));
        output.WriteLine($"{phase}: coordinator was on {killed}; migration {end.Phase} ({end.Reason}); vm {vm.State} on {vm.Host}");
        Assert.Equal(VmState.Running, vm.State);
        await fabric.Scenario.AssertInvariantsAsync();
        Assert.Single(fabric.Scenario.QemuOf(name));
        await fabric.AssertTicksAsync(name, boot);
    }

    [Fact]
    public async Task Lifecycle_requests_are_refused_while_migrating_and_a_second_migration_too()
    {
        var (_, boot) = await fabric.RunTinyAsync("busy");
        var end = await HeldAsync("busy", MigrationPhase.Transferring, async () =>
        {
            var vm = await fabric.Client.GetVmAsync("busy");
            Assert.Equal(VmState.Migrating, vm.State);
            Assert.Equal(MigrationPhase.Transferring, vm.Migration);
            await ConflictAsync(() => fabric.Client.StopVmAsync("busy", new StopOptions { Force = true }));
            await ConflictAsync(() => fabric.Client.DeleteVmAsync("busy", new DeleteOptions { Force = true }));
            await ConflictAsync(() => fabric.Client.RebootVmAsync("busy"));
            await ConflictAsync(() => fabric.Client.PauseVmAsync("busy"));
            await ConflictAsync(() => fabric.Client.MigrateVmAsync("busy", new MigrationRequest()));
        });
        Assert.Equal(MigrationPhase.Succeeded, end.Phase);
        await AssertRunsOnAsync("busy", "host-b", previousPid: null);
        await fabric.AssertTicksAsync("busy", boot);

        // Bad requests name what is wrong and change nothing.
        await ConflictAsync(() => fabric.Client.MigrateVmAsync("busy", new MigrationRequest { TargetHost = "host-b" }));
        var unknown = await Assert.ThrowsAsync<FabricException>(() => fabric.Client.MigrateVmAsync("busy", new MigrationRequest { TargetHost = "nowhere" }));
        Assert.Equal(ErrorCodes.InvalidSpec, unknown.Code);
        Assert.Contains("to: host 'nowhere'", unknown.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => fabric.Client.MigrateVmAsync("ghost", new MigrationRequest()))).Code);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => fabric.Client.MigrateVmAsync("busy", new MigrationRequest { DowntimeLimitMs = 0 }))).Code);
        await fabric.Client.StopVmAsync("busy", new StopOptions { Force = true });
        await ConflictAsync(() => fabric.Client.MigrateVmAsync("busy", new MigrationRequest()));
        await fabric.Scenario.AssertInvariantsAsync();
    }

    /// <summary>Starts a migration of <paramref name="vm"/> from host-a to host-b held in <paramref name="phase"/>, injects the fault, releases, and follows it to its end.</summary>
    private async Task<MigrationInfo> HeldAsync(string vm, MigrationPhase phase, Func<Task> fault)
    {
        fabric.Hold(phase);
        try
        {
            await fabric.Client.MigrateVmAsync(vm, new MigrationRequest { TargetHost = "host-b" });
            await fabric.WaitUntilHeldAsync(vm, phase);
            await fault();
        }
        finally
        {
            fabric.Release();
        }

        var end = await fabric.Client.WaitForMigrationAsync(vm);
        output.WriteLine($"{vm}: migration {end.Phase} after {end.TotalMs} ms: {end.Reason}");
        Assert.True(end.IsFinished);
        return end;
    }

    /// <summary>
    /// The VM runs on <paramref name="host"/> (as the same process, when <paramref name="previousPid"/> is given);
    /// <paramref name="alone"/>: no other QEMU of it exists (false while a Down host still holds a stale one).
    /// </summary>
    private async Task AssertRunsOnAsync(string vm, string host, int? previousPid, bool alone = true)
    {
        var info = await fabric.Client.WaitForVmAsync(vm, [VmState.Running], TimeSpan.FromSeconds(30));
        Assert.Equal((VmState.Running, host), (info.State, info.Host));
        Assert.Null(info.Migration);
        // A fenced QEMU is stopped a moment after the migration ends.
        var pids = fabric.Scenario.QemuOf(vm);
        for (var wait = 0; alone && pids.Count > 1 && wait < 100; wait++)
        {
            await Task.Delay(100);
            pids = fabric.Scenario.QemuOf(vm);
        }

        if (alone)
        {
            Assert.Single(pids);
        }

        if (previousPid is { } pid)
        {
            Assert.Contains(pid, pids);
        }
    }

    private static async Task ConflictAsync(Func<Task> call) =>
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(call)).Code);

    /// <summary>Whatever a test did to the silos, the next one finds them all running.</summary>
    private sealed class SilosRestored(MigrationFabric fabric) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            fabric.Release();
            await fabric.EnsureAllSilosAsync();
        }
    }
}
