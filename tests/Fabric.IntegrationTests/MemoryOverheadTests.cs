using Fabric.Contracts;
using Fabric.Hypervisor;

namespace Fabric.IntegrationTests;

/// <summary>A host charges every VM its hypervisor's memory overhead on top of its RAM, and the scheduler counts the same.</summary>
public sealed class MemoryOverheadTests : IAsyncLifetime
{
    // One host of 4 vCPU / 1 GiB charging 64 MiB per VM: VMs of 192 MiB take 256 MiB each, so exactly 4 fit (5 would
    // without the overhead).
    private const long OverheadMiB = 64;
    private const int Fit = 4;
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() =>
        _fabric = await FabricTestCluster.StartAsync([["host-a"]], vcpus: 4, memoryMiB: 1024, overhead: new MemoryOverheadFormula(OverheadMiB, 0, 0));

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    [Fact]
    public async Task Host_WithRoomForExactlyNVmsCountingOverhead_RefusesTheNextNamingMemoryAndOverhead()
    {
        var client = _fabric.Client;
        for (var i = 0; i < Fit; i++)
        {
            await client.CreateVmAsync(new VmSpec { Name = $"vm-{i}", Image = "tiny", VCpus = 1, MemoryMiB = 192 });
        }

        var host = await client.GetHostAsync("host-a");
        Assert.Equal(new Resources(Fit, 1024), host.Allocated);
        Assert.Equal(Fit * OverheadMiB, host.AllocatedOverheadMiB);
        Assert.Equal(new MemoryOverhead(OverheadMiB, 0, 0), host.MemoryOverhead);

        // One vCPU is free; the memory is not, once the overhead is counted.
        var refused = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(new VmSpec { Name = "vm-extra", Image = "tiny", VCpus = 1, MemoryMiB = 64 }));
        Assert.Equal(ErrorCodes.InsufficientCapacity, refused.Code);
        Assert.Contains("overhead", refused.Message, StringComparison.Ordinal);
        Assert.Contains("memory", refused.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync("vm-extra"))).Code);

        // Deleting a VM gives back its RAM and its overhead.
        await client.DeleteVmAsync("vm-0");
        host = await client.GetHostAsync("host-a");
        Assert.Equal(new Resources(Fit - 1, 768), host.Allocated);
        Assert.Equal((Fit - 1) * OverheadMiB, host.AllocatedOverheadMiB);
    }

    [Fact]
    public async Task Scheduler_RefusesAVmThatFitsNoHostOnceItsOverheadIsCounted()
    {
        var refused = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(new VmSpec { Name = "too-big", Image = "tiny", VCpus = 1, MemoryMiB = 1000 }));

        Assert.Contains("overhead", refused.Message, StringComparison.Ordinal);
        Assert.Contains("memory", refused.Message, StringComparison.Ordinal);
    }
}
