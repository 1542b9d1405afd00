using Fabric.Contracts;
using Fabric.Grains.Access;

namespace Fabric.IntegrationTests;

/// <summary>
/// Methods the fabric coordinates through (<c>[HostInternal]</c>) refuse a client connection with <c>forbidden</c>
/// and change nothing; the same calls from inside a silo go through, and every client flow still works.
/// </summary>
public sealed class HostInternalCallTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private static async Task ExpectForbiddenAsync(string method, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<FabricException>(call);
        Assert.Equal((ErrorCodes.Forbidden, $"{method} is internal to the fabric"), (error.Code, error.Message));
    }

    [Fact]
    public async Task A_client_is_refused_internal_methods_and_they_change_nothing()
    {
        var client = _fabric.OrleansClient;
        var reservation = new VmReservation { Vm = "sneaky", Epoch = 1, Resources = new Resources(1, 64), Image = "tiny" };

        await ExpectForbiddenAsync("IHostGrain.Reserve", () => client.GetGrain<IHostGrain>("host-a").Reserve(reservation));
        await ExpectForbiddenAsync("IProjectGrain.Charge", () => client.GetGrain<IProjectGrain>(ProjectInfo.Default).Charge("sneaky", 64, 1 << 20));
        await ExpectForbiddenAsync("ITokenDirectoryGrain.EnsureBootstrap", () => client.GetGrain<ITokenDirectoryGrain>(ITokenDirectoryGrain.Key).EnsureBootstrap(TokenSecrets.NewId(), ApiTokens.Sha256Hex("x")));
        await ExpectForbiddenAsync("ITokenDirectoryGrain.Verify", () => client.GetGrain<ITokenDirectoryGrain>(ITokenDirectoryGrain.Key).Verify(TokenSecrets.NewId(), ApiTokens.Sha256Hex("x")));
        await ExpectForbiddenAsync("IVmGrain.BeginMigration", () => client.GetGrain<IVmGrain>("web-1").BeginMigration("m-1"));
        await ExpectForbiddenAsync("ISchedulerGrain.Place", () => client.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).Place(new PlacementRequest { Reservation = reservation, Placement = VmPlacement.None }));

        // Marked on the interface: every method of it.
        await ExpectForbiddenAsync("IHostStorage.MeasurePool", () => client.GetGrain<IHostStorage>("host-a").MeasurePool(new PoolLocation("p", PoolType.Local, "/nonexistent")));

        Assert.Empty((await _fabric.Client.GetHostAsync("host-a")).Vms);
        Assert.Equal(new ProjectUsage(), (await client.GetGrain<IProjectGrain>(ProjectInfo.Default).Get()).Usage);
        Assert.Empty(await client.GetGrain<ITokenDirectoryGrain>(ITokenDirectoryGrain.Key).List());
    }

    [Fact]
    public async Task The_same_calls_from_inside_a_silo_go_through()
    {
        var host = _fabric.InternalGrains.GetGrain<IHostGrain>("host-a");

        await host.Reserve(new VmReservation { Vm = "inside", Epoch = 1, Resources = new Resources(1, 64), Image = "tiny" });
        Assert.Equal<string>(["inside"], (await _fabric.Client.GetHostAsync("host-a")).Vms);
        await host.Release("inside", 1);

        await _fabric.InternalGrains.GetGrain<IProjectGrain>(ProjectInfo.Default).Charge("inside", 1, 64);
        Assert.Equal(new ProjectUsage { Vms = 1, VCpus = 1, MemoryMiB = 64 }, (await _fabric.OrleansClient.GetGrain<IProjectGrain>(ProjectInfo.Default).Get()).Usage);
    }

    [Fact]
    public async Task Every_client_flow_still_works()
    {
        var client = _fabric.Client;
        await client.CreateVmAsync(new VmSpec { Name = "web-1", Image = "tiny", MemoryMiB = 64 });
        Assert.Equal(VmState.Running, (await client.StartVmAsync("web-1")).State);
        Assert.Equal(VmState.Paused, (await client.PauseVmAsync("web-1")).State);
        Assert.Equal(VmState.Running, (await client.ResumeVmAsync("web-1")).State);
        await client.StopVmAsync("web-1", new StopOptions { Force = true });
        Assert.Equal(VmState.Stopped, (await client.GetVmAsync("web-1")).State);
        Assert.Equal(HostState.Cordoned, (await client.CordonHostAsync("host-a")).State);
        Assert.Equal(HostState.Ready, (await client.UncordonHostAsync("host-a")).State);
        Assert.Equal<string>(["web-1"], (await client.ListVmsAsync()).Select(v => v.Name));
        await client.DeleteVmAsync("web-1");
        Assert.Empty(await client.ListVmsAsync());
        Assert.Equal(new ProjectUsage(), (await _fabric.OrleansClient.GetGrain<IProjectGrain>(ProjectInfo.Default).Get()).Usage);
    }
}
