using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>The control plane restarts; the guests must not notice, and the fabric must find them again.</summary>
public sealed class SiloRestartTests : IAsyncLifetime
{
    private FabricEnvironment _environment = null!;

    public async Task InitializeAsync() => _environment = await FabricEnvironment.StartAsync("host-a");

    public async Task DisposeAsync() => await _environment.DisposeAsync();

    [Fact]
    public async Task Killing_the_silo_leaves_the_guest_running_and_the_restarted_silo_reports_it_running()
    {
        var client = await _environment.ConnectAsync();
        await client.CreateVmAsync(new VmSpec { Name = "survivor", Image = "tiny", MemoryMiB = 16 });
        var before = await client.StartVmAsync("survivor");
        var console = new VmConsole(client, "survivor");
        var boot = await console.WaitForReadyAsync();
        var tickBefore = await console.WaitForTickAsync(boot, after: 1);

        await _environment.KillSiloAsync("host-a");
        Assert.True(Processes.IsAlive(before.Pid!.Value));
        await _environment.StartSiloAsync("host-a");

        var after = await client.GetVmAsync("survivor");
        Assert.Equal(VmState.Running, after.State);
        Assert.Equal(before.Pid, after.Pid);
        Assert.Equal(before.InstanceId, after.InstanceId);

        // The guest never stopped: one boot, and its ticks went on while the silo was away.
        var tickAfter = await console.WaitForTickAsync(boot, after: tickBefore + 2);
        var (readyBoots, ticks) = await console.ProtocolAsync();
        Assert.Equal([boot], readyBoots);
        Assert.All(ticks, t => Assert.Equal(boot, t.Boot));
        Assert.Equal(Enumerable.Range(1, ticks.Count), ticks.Select(t => t.N));
        Assert.True(tickAfter > tickBefore);

        // And the restarted silo controls it.
        Assert.Equal(VmState.Paused, (await client.PauseVmAsync("survivor")).State);
        Assert.Equal(VmState.Running, (await client.ResumeVmAsync("survivor")).State);
        Assert.Equal(VmState.Stopped, (await client.StopVmAsync("survivor", new StopOptions { Force = true })).State);
        Assert.Empty(_environment.QemuPidsOf("host-a"));
    }

    [Fact]
    public async Task Sigterm_stops_the_silo_but_not_its_vms_and_definitions_survive_in_redis()
    {
        var client = await _environment.ConnectAsync();
        await client.CreateVmAsync(new VmSpec { Name = "kept-running", Image = "tiny", MemoryMiB = 16, Labels = Labels.Require("labels", new Dictionary<string, string> { ["role"] = "keep" }) });
        await client.CreateVmAsync(new VmSpec { Name = "kept-defined", Image = "tiny", MemoryMiB = 16 });
        var running = await client.StartVmAsync("kept-running");

        await _environment.StopSiloAsync("host-a");
        Assert.True(_environment.Silos["host-a"].Process.HasExited);
        Assert.True(Processes.IsAlive(running.Pid!.Value));

        await _environment.StartSiloAsync("host-a");
        var defined = await client.GetVmAsync("kept-defined");
        Assert.Equal(VmState.Defined, defined.State);
        Assert.Equal("host-a", defined.Host);
        var kept = await client.GetVmAsync("kept-running");
        Assert.Equal(VmState.Running, kept.State);
        Assert.Equal(running.Pid, kept.Pid);
        Assert.Equal("keep", kept.Labels["role"]);
        Assert.Equal(2, (await client.GetHostAsync("host-a")).VmCount);

        await client.StopVmAsync("kept-running", new StopOptions { Force = true });
        await client.DeleteVmAsync("kept-running");
        await client.DeleteVmAsync("kept-defined");
    }

    [Fact]
    public async Task A_guest_that_dies_while_its_silo_is_down_is_recorded_failed_when_the_silo_returns()
    {
        var client = await _environment.ConnectAsync();
        await client.CreateVmAsync(new VmSpec { Name = "lost-guest", Image = "tiny", MemoryMiB = 16 });
        var running = await client.StartVmAsync("lost-guest");

        await _environment.KillSiloAsync("host-a");
        Processes.Kill(running.Pid!.Value);
        await _environment.StartSiloAsync("host-a");

        var failed = await client.WaitForVmAsync("lost-guest", [VmState.Failed], TimeSpan.FromSeconds(20));
        Assert.Equal(VmState.Failed, failed.State);
        Assert.Null(failed.Pid);

        // It can start again from there.
        Assert.Equal(VmState.Running, (await client.StartVmAsync("lost-guest")).State);
        await client.StopVmAsync("lost-guest", new StopOptions { Force = true });
    }

    [Fact]
    public async Task Fleet_events_still_flow_after_a_silo_restart_reloads_the_stored_subscriptions()
    {
        var client = await _environment.ConnectAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // Once an event was delivered, the stream's producer and consumer are stored in Redis (PubSubStore);
        // the restarted silo must read them back.
        await using (var first = await client.SubscribeAsync())
        {
            await client.CreateVmAsync(new VmSpec { Name = "before-restart", Image = "tiny", MemoryMiB = 16 });
            await WaitForPlacedAsync(first, "before-restart", cancel.Token);
        }

        await _environment.KillSiloAsync("host-a");
        await _environment.StartSiloAsync("host-a");

        await using var watch = await client.SubscribeAsync();
        await client.CreateVmAsync(new VmSpec { Name = "after-restart", Image = "tiny", MemoryMiB = 16 });
        await WaitForPlacedAsync(watch, "after-restart", cancel.Token);
    }

    private static async Task WaitForPlacedAsync(Fabric.Client.FleetWatch watch, string vm, CancellationToken cancellationToken)
    {
        await foreach (var fleetEvent in watch.WithCancellation(cancellationToken))
        {
            if (fleetEvent.Vm == vm && fleetEvent.Kind == FleetEventKind.VmPlaced)
            {
                return;
            }
        }
    }

    [Fact]
    public async Task A_redis_restart_loses_nothing()
    {
        var client = await _environment.ConnectAsync();
        await client.CreateVmAsync(new VmSpec { Name = "through-redis", Image = "tiny", MemoryMiB = 16 });
        await client.StartVmAsync("through-redis");

        await _environment.Redis.RestartAsync();

        Assert.Equal(VmState.Running, (await client.GetVmAsync("through-redis")).State);
        Assert.Equal(VmState.Stopped, (await client.StopVmAsync("through-redis", new StopOptions { Force = true })).State);
        await client.CreateVmAsync(new VmSpec { Name = "after-redis", Image = "tiny", MemoryMiB = 16 });
        Assert.Equal(["after-redis", "through-redis"], (await client.ListVmsAsync()).Select(v => v.Name));
    }
}
