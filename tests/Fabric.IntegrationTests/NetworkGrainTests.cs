using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>
/// The network grain as the single writer of its addresses: concurrent allocations never share an address or a MAC,
/// held addresses are refused, exhaustion and overlaps are clear errors, and nothing is freed while a VM holds it.
/// (Realization on hosts needs real namespaces: the end-to-end tests cover it.)
/// </summary>
public sealed class NetworkGrainTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private IVirtualNetworkGrain Grain(string network) => _fabric.InternalGrains.GetGrain<IVirtualNetworkGrain>(network);

    [Fact]
    public async Task Fifty_concurrent_allocations_get_unique_addresses_and_macs_inside_the_prefix()
    {
        var created = await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "race", Cidr = "10.50.0.0/24" });
        var nics = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Grain("race").AllocateNic($"vm-{i:D2}", 0, null)));

        Assert.Equal(50, nics.Select(n => n.Ip).Distinct().Count());
        Assert.Equal(50, nics.Select(n => n.Mac).Distinct().Count());
        Assert.Equal(50, nics.Select(n => n.Tap).Distinct().Count());
        Assert.DoesNotContain(nics, n => n.Ip is "10.50.0.0" or "10.50.0.1" or "10.50.0.255");
        Assert.All(nics, n => Assert.StartsWith("10.50.0.", n.Ip, StringComparison.Ordinal));
        Assert.All(nics, n => Assert.Equal(created.Vni, n.Vni));

        // Repeated requests get what they hold; the network counts each NIC once.
        var again = await Grain("race").AllocateNic("vm-07", 0, null);
        Assert.Equal(nics[7], again);
        var info = await _fabric.Client.GetNetworkAsync("race");
        Assert.Equal(50, info.Nics);
        Assert.Equal(50, info.Ports.Length);
        Assert.Equal(256 - 3 - 50, info.FreeAddresses);

        // A freed address is handed out again; a held one never.
        await Grain("race").ReleaseNic("vm-07", 0);
        var reused = await Grain("race").AllocateNic("vm-new", 0, null);
        Assert.Equal(nics[7].Ip, reused.Ip);
        var held = await Assert.ThrowsAsync<FabricException>(() => Grain("race").AllocateNic("vm-other", 0, nics[3].Ip));
        Assert.Equal(ErrorCodes.Conflict, held.Code);
        Assert.Contains("vm-03", held.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requested_addresses_are_checked_and_a_small_network_runs_out_clearly()
    {
        await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "tiny", Cidr = "10.60.0.8/29", Gateway = "10.60.0.14" });
        var gateway = await Assert.ThrowsAsync<FabricException>(() => Grain("tiny").AllocateNic("a", 0, "10.60.0.14"));
        Assert.Equal(ErrorCodes.InvalidSpec, gateway.Code);
        Assert.StartsWith("ip: ", gateway.Message, StringComparison.Ordinal);
        var outside = await Assert.ThrowsAsync<FabricException>(() => Grain("tiny").AllocateNic("a", 0, "10.60.0.20"));
        Assert.Equal(ErrorCodes.InvalidSpec, outside.Code);

        var fixedNic = await Grain("tiny").AllocateNic("a", 0, "10.60.0.13");
        Assert.Equal("10.60.0.13", fixedNic.Ip);
        var rest = new List<string>();
        for (var i = 1; i <= 4; i++)
        {
            rest.Add((await Grain("tiny").AllocateNic($"b{i}", 0, null)).Ip);
        }

        Assert.Equal(["10.60.0.9", "10.60.0.10", "10.60.0.11", "10.60.0.12"], rest);
        var full = await Assert.ThrowsAsync<FabricException>(() => Grain("tiny").AllocateNic("c", 0, null));
        Assert.Equal(ErrorCodes.InsufficientCapacity, full.Code);
        Assert.Contains("tiny", full.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Overlaps_are_allowed_unless_a_network_is_exclusive_and_deletion_waits_for_the_nics()
    {
        var blue = await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "blue", Cidr = "10.70.0.0/24" });
        var red = await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "red", Cidr = "10.70.0.0/24" });
        Assert.NotEqual(blue.Vni, red.Vni);

        var refused = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "green", Cidr = "10.70.0.0/16", Exclusive = true }));
        Assert.Equal(ErrorCodes.Conflict, refused.Code);
        Assert.StartsWith("cidr: ", refused.Message, StringComparison.Ordinal);
        await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "green", Cidr = "10.71.0.0/24", Exclusive = true });
        var intoExclusive = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "amber", Cidr = "10.71.0.128/25" }));
        Assert.Contains("exclusive", intoExclusive.Message, StringComparison.Ordinal);
        Assert.Equal(["blue", "green", "red"], (await _fabric.Client.ListNetworksAsync()).Select(n => n.Name));

        var twice = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "blue", Cidr = "10.80.0.0/24" }));
        Assert.Equal(ErrorCodes.Conflict, twice.Code);

        // A NIC just allocated (its VM may still be writing its record) keeps the network from going.
        await Grain("blue").AllocateNic("web", 0, null);
        var inUse = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.DeleteNetworkAsync("blue"));
        Assert.Equal(ErrorCodes.Conflict, inUse.Code);
        Assert.Contains("web", inUse.Message, StringComparison.Ordinal);
        await Grain("blue").ReleaseNic("web", 0);
        await _fabric.Client.DeleteNetworkAsync("blue");
        var gone = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.GetNetworkAsync("blue"));
        Assert.Equal(ErrorCodes.NotFound, gone.Code);
        Assert.Equal(["green", "red"], (await _fabric.Client.ListNetworksAsync()).Select(n => n.Name));
    }

    [Fact]
    public async Task Rules_are_numbered_listed_and_removed()
    {
        await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "ruled", Cidr = "10.90.0.0/24" });
        var web = await _fabric.Client.AddNetworkRuleAsync("ruled", new NetworkRule { Protocol = RuleProtocol.Tcp, FromPort = 80, ToPort = 80 });
        var ping = await _fabric.Client.AddNetworkRuleAsync("ruled", new NetworkRule { Protocol = RuleProtocol.Icmp, Source = "10.90.0.0/24" });
        var same = await _fabric.Client.AddNetworkRuleAsync("ruled", new NetworkRule { Protocol = RuleProtocol.Tcp, FromPort = 80 });
        Assert.Equal([1, 2], new[] { web.Id, ping.Id });
        Assert.Equal(web, same);

        await _fabric.Client.RemoveNetworkRuleAsync("ruled", 1);
        Assert.Equal([ping], (await _fabric.Client.GetNetworkAsync("ruled")).Rules.ToArray());
        var missing = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.RemoveNetworkRuleAsync("ruled", 1));
        Assert.Equal(ErrorCodes.NotFound, missing.Code);
    }

    [Fact]
    public async Task A_vm_with_a_nic_is_not_placed_on_a_host_that_cannot_realize_networks()
    {
        await _fabric.Client.CreateNetworkAsync(new NetworkSpec { Name = "plain", Cidr = "10.91.0.0/24" });
        var error = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(new VmSpec { Name = "nic-vm", Image = "tiny", Nics = [new NicRequest { Network = "plain" }] }));
        Assert.Contains("cannot realize virtual networks", error.Message, StringComparison.Ordinal);

        // The refused create gave its address back.
        Assert.Equal(0, (await _fabric.Client.GetNetworkAsync("plain")).Nics);
    }
}
