using Fabric.Contracts;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>Host failure detection through real silo processes (three hosts), timed on an otherwise idle machine.</summary>
[Collection(TimingCollection.Name)]
public sealed class HostDetectionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string[] Hosts = ["host-a", "host-b", "host-c"];
    private FabricEnvironment _environment = null!;

    public async Task InitializeAsync() => _environment = await FabricEnvironment.StartAsync(Hosts);

    public async Task DisposeAsync() => await _environment.DisposeAsync();

    private static VmSpec Tiny(string name, PlacementPolicy policy) => new()
    {
        Name = name,
        Image = "tiny",
        MemoryMiB = 16,
        Placement = new VmPlacement { Policy = policy },
    };

    [Fact]
    public async Task A_killed_host_is_down_within_15_seconds_and_comes_back_with_the_same_guests()
    {
        var client = await _environment.ConnectAsync();
        await client.CreateVmAsync(Tiny("victim", PlacementPolicy.Spread) with { Placement = new VmPlacement { Host = "host-b" } });
        var before = await client.StartVmAsync("victim");
        var console = new VmConsole(client, "victim");
        var boot = await console.WaitForReadyAsync();
        var tickBefore = await console.WaitForTickAsync(boot);

        await _environment.KillSiloAsync("host-b");
        var detection = await FabricEnvironment.WaitForHostStateAsync(client, "host-b", HostState.Down, TimeSpan.FromSeconds(15));
        output.WriteLine($"host-b shown Down {detection.TotalSeconds:0.0} s after kill -9");

        // Each silo learns of the death from the membership on its own: the VM's silo may hear a moment after the
        // scheduler's did.
        var unreachable = await client.GetVmAsync("victim");
        for (var wait = 0; unreachable.Reachable && wait < 50; wait++)
        {
            await Task.Delay(100);
            unreachable = await client.GetVmAsync("victim");
        }

        Assert.Equal(VmState.Running, unreachable.State);
        Assert.False(unreachable.Reachable);
        Assert.Equal(ErrorCodes.Unavailable, (await Assert.ThrowsAsync<FabricException>(() => client.PauseVmAsync("victim"))).Code);

        await _environment.StartSiloAsync("host-b");
        await FabricEnvironment.WaitForHostStateAsync(client, "host-b", HostState.Ready, TimeSpan.FromSeconds(30));
        var after = await client.GetVmAsync("victim");
        Assert.Equal(VmState.Running, after.State);
        Assert.True(after.Reachable);
        Assert.Equal(before.Pid, after.Pid);
        // Same boot, and its count went on past where it was when the silo died.
        await console.WaitForTickAsync(boot, after: tickBefore + 1);
        Assert.Equal([boot], (await console.ProtocolAsync()).ReadyBoots);
    }
}
