using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>Placement by the scheduler grain over three hosts on three silos (simulated driver).</summary>
public sealed class SchedulerTests : IAsyncLifetime
{
    private static readonly string[] Hosts = ["host-a", "host-b", "host-c"];
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync(
        [["host-a"], ["host-b"], ["host-c"]],
        vcpus: 4,
        memoryMiB: 1024,
        labels: new() { ["host-c"] = new() { ["disk"] = "ssd" } });

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private static VmSpec Tiny(string name, PlacementPolicy policy = PlacementPolicy.Default, string? antiAffinity = null, string? affinity = null, string? host = null, int memory = 128) => new()
    {
        Name = name,
        Image = "tiny",
        MemoryMiB = memory,
        Placement = new VmPlacement { Policy = policy, AntiAffinityGroup = antiAffinity, AffinityGroup = affinity, Host = host },
    };

    [Fact]
    public async Task Spread_puts_three_vms_on_three_hosts()
    {
        var placed = new List<string>();
        foreach (var name in new[] { "s-1", "s-2", "s-3" })
        {
            placed.Add((await _fabric.Client.CreateVmAsync(Tiny(name, PlacementPolicy.Spread))).Host);
        }

        Assert.Equal(Hosts, placed.Order());
    }

    [Fact]
    public async Task Pack_puts_three_vms_on_one_host()
    {
        var placed = new List<string>();
        foreach (var name in new[] { "p-1", "p-2", "p-3" })
        {
            placed.Add((await _fabric.Client.CreateVmAsync(Tiny(name, PlacementPolicy.Pack))).Host);
        }

        Assert.Single(placed.Distinct());
    }

    [Fact]
    public async Task Concurrent_spread_creates_still_spread()
    {
        var created = await Task.WhenAll(Enumerable.Range(1, 6).Select(i => _fabric.Client.CreateVmAsync(Tiny($"c-{i}", PlacementPolicy.Spread))));
        Assert.All(created.GroupBy(c => c.Host), g => Assert.Equal(2, g.Count()));
    }

    [Fact]
    public async Task Anti_affinity_keeps_a_group_apart_and_fails_clearly_when_it_cannot()
    {
        var hosts = new List<string>();
        foreach (var name in new[] { "aa-1", "aa-2", "aa-3" })
        {
            hosts.Add((await _fabric.Client.CreateVmAsync(Tiny(name, PlacementPolicy.Pack, antiAffinity: "db"))).Host);
        }

        Assert.Equal(Hosts, hosts.Order());
        var error = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(Tiny("aa-4", antiAffinity: "db")));
        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        foreach (var host in Hosts)
        {
            Assert.Contains($"{host}: anti-affinity group 'db' already has a VM here", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.GetVmAsync("aa-4"))).Code);
    }

    [Fact]
    public async Task Affinity_keeps_a_group_together_even_under_spread()
    {
        var first = await _fabric.Client.CreateVmAsync(Tiny("af-1", PlacementPolicy.Spread, affinity: "cache"));
        var second = await _fabric.Client.CreateVmAsync(Tiny("af-2", PlacementPolicy.Spread, affinity: "cache"));
        var third = await _fabric.Client.CreateVmAsync(Tiny("af-3", PlacementPolicy.Spread, affinity: "cache"));
        Assert.Equal(first.Host, second.Host);
        Assert.Equal(first.Host, third.Host);
    }

    [Fact]
    public async Task Explicit_host_and_host_selector_are_honoured()
    {
        Assert.Equal("host-b", (await _fabric.Client.CreateVmAsync(Tiny("e-1", host: "host-b"))).Host);
        var ssd = Tiny("e-2") with { Placement = new VmPlacement { HostSelector = ImmutableSortedDictionary<string, string>.Empty.Add("disk", "ssd") } };
        Assert.Equal("host-c", (await _fabric.Client.CreateVmAsync(ssd)).Host);

        var nvme = Tiny("e-3") with { Placement = new VmPlacement { HostSelector = ImmutableSortedDictionary<string, string>.Empty.Add("disk", "nvme") } };
        var error = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(nvme));
        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        Assert.Contains("host-a: label disk=nvme not present", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cordoned_host_takes_no_new_vms_until_uncordoned()
    {
        var cordoned = await _fabric.Client.CordonHostAsync("host-a");
        Assert.Equal(HostState.Cordoned, cordoned.State);
        Assert.Equal(HostState.Cordoned, (await _fabric.Client.GetHostAsync("host-a")).State);

        for (var i = 0; i < 4; i++)
        {
            Assert.NotEqual("host-a", (await _fabric.Client.CreateVmAsync(Tiny($"cd-{i}", PlacementPolicy.Spread))).Host);
        }

        var pinned = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(Tiny("cd-x", host: "host-a")));
        Assert.Equal(ErrorCodes.InsufficientCapacity, pinned.Code);
        Assert.Contains("host-a: cordoned", pinned.Message, StringComparison.Ordinal);

        Assert.Equal(HostState.Ready, (await _fabric.Client.UncordonHostAsync("host-a")).State);
        Assert.Equal("host-a", (await _fabric.Client.CreateVmAsync(Tiny("cd-y", host: "host-a"))).Host);
    }

    [Fact]
    public async Task A_vm_that_fits_no_host_says_why_and_an_oversized_one_is_a_bad_spec()
    {
        // Fill host-a's memory, then ask for it explicitly.
        await _fabric.Client.CreateVmAsync(Tiny("big-1", host: "host-a", memory: 1024));
        var full = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(Tiny("big-2", host: "host-a", memory: 512)));
        Assert.Equal(ErrorCodes.InsufficientCapacity, full.Code);
        Assert.Contains("host-a: needs 1 vCPU, 512Mi, 3 vCPU, 0Mi free", full.Message, StringComparison.Ordinal);
        Assert.Contains("host-b: not the requested host 'host-a'", full.Message, StringComparison.Ordinal);

        var oversized = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(Tiny("big-3", memory: 2048)));
        Assert.Equal(ErrorCodes.InvalidSpec, oversized.Code);
        Assert.StartsWith("memory: 2Gi exceeds the capacity of every host", oversized.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hosts_report_capacity_allocation_and_labels()
    {
        await _fabric.Client.CreateVmAsync(Tiny("h-1", host: "host-c", memory: 256));
        var hosts = await _fabric.Client.ListHostsAsync();
        Assert.Equal(Hosts, hosts.Select(h => h.Name));
        var c = hosts.Single(h => h.Name == "host-c");
        Assert.Equal(new Resources(4, 1024), c.Capacity);
        Assert.Equal(HostState.Ready, c.State);
        Assert.Equal("ssd", c.Labels["disk"]);
        Assert.Equal("simulated", c.Driver);

        var detail = await _fabric.Client.GetHostAsync("host-c");
        Assert.Equal(new Resources(1, 256), detail.Allocated);
        Assert.Equal(["h-1"], detail.Vms.ToArray());
        Assert.NotEmpty(detail.Silo);
    }
}
