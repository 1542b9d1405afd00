using Fabric.Contracts;
using Fabric.Hypervisor.Linux;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>
/// No dead ends: VMs of a Down host can be stopped or deleted by force, and the host fences them when it returns. The
/// hosts are network peers here (as root: each silo and its QEMUs in a namespace of its own, with its own address).
/// </summary>
public sealed class DownHostTests
{
    [Fact]
    public async Task Forced_stop_and_delete_move_on_while_the_host_is_down_and_the_returning_host_stops_the_stale_processes()
    {
        await using var scenario = await FaultScenario.StartAsync(FaultScenario.PeersWherePossible, "host-a", "host-b");
        foreach (var silo in scenario.Environment.Silos.Values)
        {
            Assert.Equal(silo.Address, (await scenario.Client.GetHostAsync(silo.HostId)).Address);
        }

        var gone = await scenario.RunTinyAsync("gone", "host-b");

        // Not pinned to host-b (so it may move), but placed there while host-a takes nothing.
        await scenario.Client.CordonHostAsync("host-a");
        await scenario.Client.CreateVmAsync(FaultScenario.Tiny("moved", "host-b") with { Placement = VmPlacement.None });
        var moved = await scenario.Client.StartVmAsync("moved");
        Assert.Equal("host-b", moved.Host);
        await scenario.Client.UncordonHostAsync("host-a");
        var waiting = await scenario.RunTinyAsync("waiting", "host-b");
        Assert.Equal(VmState.Stopping, (await scenario.Client.StopVmAsync("waiting", new StopOptions { GracePeriod = TimeSpan.FromMinutes(5) }, wait: false)).State);

        await scenario.Environment.KillSiloAsync("host-b");
        await scenario.WaitUntilAsync("host-b", HostState.Down);

        // A stop under way waits for its host, and says so.
        var stuck = await scenario.Client.GetVmAsync("waiting");
        Assert.Equal(VmState.Stopping, stuck.State);
        Assert.Contains("host 'host-b' is Down", stuck.Waiting, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => scenario.Client.DeleteVmAsync("gone"))).Code);

        await scenario.Client.DeleteVmAsync("gone", new DeleteOptions { Force = true });
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => scenario.Client.GetVmAsync("gone"))).Code);

        foreach (var name in new[] { "moved", "waiting" })
        {
            var before = await scenario.Client.GetVmAsync(name);
            var stopped = await scenario.Client.StopVmAsync(name, new StopOptions { Force = true });
            Assert.Equal(VmState.Stopped, stopped.State);
            Assert.Equal("", stopped.Host);
            Assert.True(stopped.Epoch > before.Epoch, $"{name}: epoch {stopped.Epoch} after {before.Epoch}");
            Assert.Null(stopped.Waiting);
        }

        // Started again, the VM is placed anew on a live host, while its old process still runs on the Down one.
        var restarted = await scenario.Client.StartVmAsync("moved");
        Assert.Equal("host-a", restarted.Host);
        Assert.All(new[] { gone.Pid, moved.Pid, waiting.Pid }, pid => Assert.True(Processes.IsAlive(pid!.Value)));

        // The host returns, finds those placements superseded, and stops their processes.
        await scenario.Environment.StartSiloAsync("host-b");
        await scenario.AssertInvariantsAsync();
        Assert.Equal([restarted.Pid!.Value], scenario.QemuOf("moved"));
        Assert.Empty(scenario.QemuOf("gone"));
        Assert.Empty(scenario.QemuOf("waiting"));
        var log = await File.ReadAllTextAsync(scenario.Environment.Silos["host-b"].Process.LogPath);
        Assert.Contains("fencing vm gone", log, StringComparison.Ordinal);
        Assert.Contains("fencing vm moved", log, StringComparison.Ordinal);
    }
}
