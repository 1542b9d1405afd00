using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>
/// A QEMU ended by its cgroup's out-of-memory limit, seen through a real silo: the VM fails, and says why. The silo runs
/// with the test/diagnostic override <c>Fabric:Confinement:MemoryLimitOverrideMiB</c>, well below RAM plus overhead, so
/// the memwalk guest (which touches all its RAM) passes it.
/// </summary>
public sealed class OomThroughFabricTests
{
    [Fact]
    public async Task A_vm_whose_qemu_is_killed_by_its_memory_limit_is_failed_with_out_of_memory_as_its_reason()
    {
        var settings = new Dictionary<string, string>(FabricEnvironment.FastReconcile)
        {
            ["Fabric__Confinement__MemoryLimitOverrideMiB"] = "96",
        };
        await using var environment = await FabricEnvironment.StartAsync(NetworkTopology.Loopback, settings, "host-a");
        var client = await environment.ConnectAsync();

        await client.CreateVmAsync(new VmSpec { Name = "oom-walk", Image = "memwalk", MemoryMiB = 256 });
        await client.StartVmAsync("oom-walk");

        var failed = await client.WaitForVmAsync("oom-walk", [VmState.Failed, VmState.Stopped], TimeSpan.FromSeconds(90));
        Assert.Equal(VmState.Failed, failed.State);
        Assert.Contains("out of memory", failed.Reason ?? "", StringComparison.Ordinal);
        Assert.Contains("out of memory", (await client.GetVmAsync("oom-walk")).Reason ?? "", StringComparison.Ordinal);
    }
}
