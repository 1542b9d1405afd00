using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>Host grains live only on the silo serving their host; without it they are unavailable, never activated elsewhere.</summary>
public sealed class HostPinningTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"], ["host-b", "host-c"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    [Fact]
    public async Task Each_host_grain_runs_on_the_silo_serving_it()
    {
        foreach (var host in new[] { "host-a", "host-b", "host-c" })
        {
            var info = await _fabric.OrleansClient.GetGrain<IHostGrain>(host).GetInfo();
            Assert.Equal(_fabric.SiloServing(host).SiloAddress.ToString(), info.Silo);
        }
    }

    [Fact]
    public async Task A_host_no_silo_serves_is_unavailable()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => _fabric.OrleansClient.GetGrain<IHostGrain>("host-zz").GetInfo());
        var fabric = Assert.IsType<FabricException>(error);
        Assert.Equal(ErrorCodes.Unavailable, fabric.Code);
        Assert.Contains("host-zz", fabric.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_its_silo_dies_the_host_is_down_its_vms_unreachable_and_it_never_moves()
    {
        var client = _fabric.Client;
        await client.CreateVmAsync(new VmSpec { Name = "on-a", Image = "tiny", MemoryMiB = 64, Placement = new VmPlacement { Host = "host-a" } });
        await client.StartVmAsync("on-a");

        await _fabric.KillSiloServing("host-a");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        HostInfo hostA;
        do
        {
            await Task.Delay(200);
            hostA = (await client.ListHostsAsync()).Single(h => h.Name == "host-a");
        }
        while (hostA.State != HostState.Down && DateTime.UtcNow < deadline);
        Assert.Equal(HostState.Down, hostA.State);

        // Its VM is shown in its last known state, unreachable but not lost.
        var vm = await client.GetVmAsync("on-a");
        Assert.Equal(VmState.Running, vm.State);
        Assert.False(vm.Reachable);
        Assert.False((await client.ListVmsAsync()).Single().Reachable);

        // Operations needing the host fail clearly, and the host grain activates nowhere else.
        Assert.Equal(ErrorCodes.Unavailable, (await Assert.ThrowsAsync<FabricException>(() => client.StopVmAsync("on-a"))).Code);
        Assert.Equal(ErrorCodes.Unavailable, (await Assert.ThrowsAsync<FabricException>(() => client.CordonHostAsync("host-a"))).Code);
        Assert.Equal(HostState.Down, (await client.GetHostAsync("host-a")).State);
        var direct = await Assert.ThrowsAnyAsync<Exception>(() => _fabric.OrleansClient.GetGrain<IHostGrain>("host-a").GetInfo());
        Assert.Equal(ErrorCodes.Unavailable, Assert.IsType<FabricException>(direct).Code);
        Assert.Equal(VmState.Running, (await client.GetVmAsync("on-a")).State);

        // New VMs go to the hosts that are up.
        var placed = await client.CreateVmAsync(new VmSpec { Name = "elsewhere", Image = "tiny", MemoryMiB = 64 });
        Assert.NotEqual("host-a", placed.Host);
    }
}
