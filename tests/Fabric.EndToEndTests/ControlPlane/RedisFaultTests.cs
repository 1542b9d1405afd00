using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>The store refuses writes in the middle of a request: the request fails clearly and leaves nothing behind.</summary>
public sealed class RedisFaultTests
{
    [Fact]
    public async Task A_start_while_redis_refuses_writes_fails_clearly_leaves_no_phantom_state_and_the_next_start_works()
    {
        await using var scenario = await FaultScenario.StartAsync("host-a");
        await scenario.Client.CreateVmAsync(FaultScenario.Tiny("writer", "host-a"));
        var options = scenario.Environment.Redis.ClientOptions();
        options.AllowAdmin = true;
        using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var server = redis.GetServer(redis.GetEndPoints()[0]);

        // With no replica, this makes Redis refuse every write (NOREPLICAS) while reads go on.
        await server.ConfigSetAsync("min-replicas-to-write", "1");
        FabricException error;
        try
        {
            error = await Assert.ThrowsAsync<FabricException>(() => scenario.Client.StartVmAsync("writer"));
        }
        finally
        {
            await server.ConfigSetAsync("min-replicas-to-write", "0");
        }

        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.Contains("vm 'writer': its record could not be written", error.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", error.Message, StringComparison.Ordinal);

        var after = await scenario.Client.GetVmAsync("writer");
        Assert.Equal(VmState.Defined, after.State);
        Assert.Null(after.InstanceId);
        Assert.Empty(scenario.QemuOf("writer"));

        var started = await scenario.Client.StartVmAsync("writer");
        Assert.Equal(VmState.Running, started.State);
        Assert.Single(scenario.QemuOf("writer"));
        await scenario.AssertInvariantsAsync();
    }
}
