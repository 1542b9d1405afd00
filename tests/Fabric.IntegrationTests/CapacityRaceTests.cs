using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>200 creates race for capacity that fits only some: no host is ever over-committed and refusals leave nothing behind.</summary>
public sealed class CapacityRaceTests : IAsyncLifetime
{
    // Three hosts of 4 vCPU / 1 GiB each; every VM asks for 1 vCPU and 256 MiB, so exactly 12 fit.
    private const int Creates = 200;
    private const int Fit = 12;
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"], ["host-b"], ["host-c"]], vcpus: 4, memoryMiB: 1024);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    [Theory]
    [InlineData(PlacementPolicy.Spread)]
    [InlineData(PlacementPolicy.Pack)]
    public async Task Racing_creates_never_exceed_capacity_and_refusals_leave_nothing(PlacementPolicy policy)
    {
        var client = _fabric.Client;
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Creates).Select(async i =>
        {
            var name = $"race-{i:D3}";
            try
            {
                var vm = await client.CreateVmAsync(new VmSpec { Name = name, Image = "tiny", VCpus = 1, MemoryMiB = 256, Placement = new VmPlacement { Policy = policy } });
                return (Name: name, Host: vm.Host, Error: (FabricException?)null);
            }
            catch (FabricException ex)
            {
                return (Name: name, Host: (string?)null, Error: ex);
            }
        }));

        var created = outcomes.Where(o => o.Error is null).ToList();
        var refused = outcomes.Where(o => o.Error is not null).ToList();
        Assert.Equal(Fit, created.Count);
        Assert.All(refused, o => Assert.Equal(ErrorCodes.InsufficientCapacity, o.Error!.Code));

        // Reservations on every host: within capacity, and exactly the created VMs.
        foreach (var host in new[] { "host-a", "host-b", "host-c" })
        {
            var info = await client.GetHostAsync(host);
            Assert.True(info.Allocated.VCpus <= info.Capacity.VCpus && info.Allocated.MemoryMiB <= info.Capacity.MemoryMiB, $"{host} over-committed: {info.Allocated} of {info.Capacity}");
            Assert.Equal(created.Where(c => c.Host == host).Select(c => c.Name).Order(), info.Vms.Order());
            Assert.Equal(new Resources(info.Vms.Length, info.Vms.Length * 256L), info.Allocated);
        }

        // No record of any refused VM.
        Assert.Equal(created.Select(c => c.Name).Order(), (await client.ListVmsAsync()).Select(v => v.Name));
        foreach (var (name, _, _) in refused.Take(20))
        {
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync(name))).Code);
        }
    }
}
