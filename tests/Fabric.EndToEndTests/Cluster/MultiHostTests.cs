using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>Three real host silos (three processes, QEMU under each) joined through Redis clustering.</summary>
public sealed class MultiHostTests : IAsyncLifetime
{
    private static readonly string[] Hosts = ["host-a", "host-b", "host-c"];
    private FabricEnvironment _environment = null!;

    public async Task InitializeAsync() => _environment = await FabricEnvironment.StartAsync(Hosts);

    public async Task DisposeAsync() => await _environment.DisposeAsync();

    private static VmSpec Tiny(string name, PlacementPolicy policy, string? antiAffinity = null) => new()
    {
        Name = name,
        Image = "tiny",
        MemoryMiB = 16,
        Placement = new VmPlacement { Policy = policy, AntiAffinityGroup = antiAffinity },
    };

    [Fact]
    public async Task Spread_and_pack_place_as_asked_and_each_qemu_runs_on_the_host_the_fabric_reports()
    {
        var client = await _environment.ConnectAsync();
        var spread = new List<VmInfo>();
        foreach (var name in new[] { "spread-1", "spread-2", "spread-3" })
        {
            await client.CreateVmAsync(Tiny(name, PlacementPolicy.Spread));
            spread.Add(await client.StartVmAsync(name));
        }

        Assert.Equal(Hosts, spread.Select(v => v.Host).Order());

        var pack = new List<VmInfo>();
        foreach (var name in new[] { "pack-1", "pack-2", "pack-3" })
        {
            await client.CreateVmAsync(Tiny(name, PlacementPolicy.Pack));
            pack.Add(await client.StartVmAsync(name));
        }

        Assert.Single(pack.Select(v => v.Host).Distinct());

        foreach (var vm in spread.Concat(pack))
        {
            Assert.Contains(vm.Pid!.Value, _environment.QemuPidsOf(vm.Host));
            foreach (var other in Hosts.Where(h => h != vm.Host))
            {
                Assert.DoesNotContain(vm.Pid.Value, _environment.QemuPidsOf(other));
            }
        }

        var hosts = await client.ListHostsAsync();
        Assert.All(hosts, h => Assert.Equal(spread.Concat(pack).Count(v => v.Host == h.Name), h.VmCount));
        Assert.All(hosts, h => Assert.Equal("qemu", h.Driver));
    }

    [Fact]
    public async Task Anti_affinity_keeps_a_group_on_separate_hosts_and_fails_clearly_when_it_cannot()
    {
        var client = await _environment.ConnectAsync();
        var placed = new List<string>();
        foreach (var name in new[] { "db-1", "db-2", "db-3" })
        {
            placed.Add((await client.CreateVmAsync(Tiny(name, PlacementPolicy.Pack, antiAffinity: "db"))).Host);
        }

        Assert.Equal(Hosts, placed.Order());
        var error = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(Tiny("db-4", PlacementPolicy.Pack, antiAffinity: "db")));
        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        Assert.Contains("anti-affinity group 'db'", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, (await client.ListVmsAsync()).Length);
    }
}
