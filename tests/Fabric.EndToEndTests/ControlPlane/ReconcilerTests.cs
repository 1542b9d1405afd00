using System.Text.Json;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>
/// The reconcilers repair what a crash between two writes leaves behind: an orphan reservation (a ledger entry no
/// record claims), a lost reservation (a record whose host holds nothing for it), a missing catalog row, a ghost
/// catalog row.
/// </summary>
public sealed class ReconcilerTests
{
    [Fact]
    public async Task Orphan_reservations_are_released_lost_ones_restored_missing_catalog_rows_restored_and_ghost_rows_removed()
    {
        await using var scenario = await FaultScenario.StartAsync("host-a");
        await scenario.Client.CreateVmAsync(FaultScenario.Tiny("indexed", "host-a"));
        await scenario.Client.CreateVmAsync(FaultScenario.Tiny("unledgered", "host-a"));
        await scenario.RunTinyAsync("runner", "host-a");
        using var redis = await ConnectionMultiplexer.ConnectAsync(scenario.Environment.Redis.ClientOptions());
        var database = redis.GetDatabase();
        var prefix = $"fabric:{scenario.Environment.ServiceId}:";

        // As if a create had crashed between its reservation and its record: an entry no record claims.
        var orphan = JsonSerializer.Serialize(new { v = 1, vm = "orphan", epoch = 1_000_000, vcpus = 1, memoryMiB = 16, image = "tiny" });
        await database.HashSetAsync($"{prefix}hosts:host-a:reservations", "orphan", orphan);

        // As if a ledger had lost an entry a record still counts on.
        var lost = await database.HashGetAsync($"{prefix}hosts:host-a:reservations", "unledgered");
        await database.HashDeleteAsync($"{prefix}hosts:host-a:reservations", "unledgered");
        await scenario.Environment.KillSiloAsync("host-a");
        await scenario.Environment.StartSiloAsync("host-a");

        // As if a VM's catalog write had been lost, and a deleted VM's catalog removal.
        await database.HashDeleteAsync($"{prefix}vms", "indexed");
        var ghost = JsonSerializer.Serialize(new { v = 1, name = "ghost", state = "Running", host = "host-a", epoch = 7, vcpus = 1, memoryMiB = 16, image = "tiny" });
        await database.HashSetAsync($"{prefix}vms", "ghost", ghost);

        await scenario.AssertInvariantsAsync();
        Assert.False(await database.HashExistsAsync($"{prefix}hosts:host-a:reservations", "orphan"));
        Assert.Equal(lost, await database.HashGetAsync($"{prefix}hosts:host-a:reservations", "unledgered"));
        Assert.True(await database.HashExistsAsync($"{prefix}vms", "indexed"));
        Assert.False(await database.HashExistsAsync($"{prefix}vms", "ghost"));
        Assert.Equal(["indexed", "runner", "unledgered"], (await scenario.Client.ListVmsAsync()).Select(v => v.Name));
        Assert.Equal(VmState.Running, (await scenario.Client.GetVmAsync("runner")).State);
    }
}
