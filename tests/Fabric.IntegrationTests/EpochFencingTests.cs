using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>Hosts act only on the epoch their ledger holds; a superseded placement is fenced (simulated driver).</summary>
public sealed class EpochFencingTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private IHostGrain HostA => _fabric.InternalGrains.GetGrain<IHostGrain>("host-a");

    [Fact]
    public async Task A_command_of_another_epoch_is_refused_as_stale_and_changes_nothing()
    {
        await _fabric.Client.CreateVmAsync(new VmSpec { Name = "web-1", Image = "tiny", MemoryMiB = 64 });
        var running = await _fabric.Client.StartVmAsync("web-1");
        var current = new VmAssignment("web-1", "host-a", running.Epoch, running.InstanceId!.Value);

        foreach (var stale in new[] { current with { Epoch = running.Epoch - 1 }, current with { Epoch = running.Epoch + 1 } })
        {
            var error = await Assert.ThrowsAsync<FabricException>(() => HostA.Pause(stale));
            Assert.Equal(ErrorCodes.Conflict, error.Code);
            Assert.Equal($"vm 'web-1': host 'host-a' holds its placement at epoch {running.Epoch}; a request at epoch {stale.Epoch} is stale", error.Message);
            Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => HostA.Stop(stale, new StopOptions { Force = true }))).Code);
        }

        // A release of another epoch does nothing (it is conditional), so the VM keeps its reservation and runs on.
        await HostA.Release("web-1", running.Epoch + 1);
        Assert.Contains("web-1", (await HostA.GetInfo()).Vms);
        Assert.Equal(VmState.Running, (await _fabric.Client.GetVmAsync("web-1")).State);
        Assert.Equal(RuntimePower.Running, (await HostA.Observe("web-1")).Power);
    }

    [Fact]
    public async Task An_instance_is_launched_at_most_once_and_a_stale_fence_leaves_the_current_placement_alone()
    {
        await _fabric.Client.CreateVmAsync(new VmSpec { Name = "db-1", Image = "tiny", MemoryMiB = 64 });
        var running = await _fabric.Client.StartVmAsync("db-1");
        var assignment = new VmAssignment("db-1", "host-a", running.Epoch, running.InstanceId!.Value);

        // The same launch again (a retry, a duplicate message) reports the one process; it makes no second.
        var again = await HostA.Launch(assignment);
        Assert.Equal((RuntimePower.Running, running.Pid), (again.Power, again.Pid));

        // A fence of an older epoch is about a placement that is gone: the current one is untouched.
        await HostA.Fence("db-1", running.Epoch - 1, "test: an older placement");
        Assert.Equal(RuntimePower.Running, (await HostA.Observe("db-1")).Power);

        // A fence of the current epoch (the VM says it was superseded) frees the capacity at once, stops the process,
        // and once the process is gone removes the entry: nothing of that placement can be launched any more.
        await HostA.Fence("db-1", running.Epoch, "test: superseded");
        Assert.DoesNotContain("db-1", (await HostA.GetInfo()).Vms);
        Assert.Equal(Resources.Zero, (await HostA.GetInfo()).Allocated);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await HostA.Observe("db-1")).Epoch != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the fenced entry was never removed");
            await Task.Delay(20);
        }

        Assert.Equal(RuntimePower.Absent, (await HostA.Observe("db-1")).Power);
        var refused = await Assert.ThrowsAsync<FabricException>(() => HostA.Launch(assignment with { InstanceId = Guid.NewGuid() }));
        Assert.Equal(ErrorCodes.NotFound, refused.Code);
    }
}
