using Fabric.Contracts;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>One silo per host id, and a host id bound to the machine that first served it.</summary>
public sealed class HostIdentityTests
{
    private static readonly TimeSpan ExitWithin = TimeSpan.FromSeconds(30);

    /// <summary>The exit code of a silo that may not serve its host (HostAgent.RefusedExitCode).</summary>
    private const int Refused = 3;

    [Fact]
    public async Task A_second_silo_for_a_served_host_id_exits_naming_the_other_and_the_vms_are_never_duplicated()
    {
        await using var scenario = await FaultScenario.StartAsync("host-a", "host-b");
        var original = await scenario.RunTinyAsync("original", "host-a");

        var second = scenario.Environment.StartExtraSilo("host-a", "second-host-a");
        Assert.Equal(Refused, await second.WaitForExitAsync(ExitWithin));
        var refusal = Assert.Single(second.LinesContaining("is already served by silo"));
        Assert.Contains("host id 'host-a'", refusal, StringComparison.Ordinal);
        Assert.Contains($"S127.0.0.1:{scenario.Environment.Silos["host-a"].SiloPort}", refusal, StringComparison.Ordinal);
        Assert.Equal([original.Pid!.Value], scenario.QemuOf("original"));

        // The real silo dies: its VM is unreachable, not failed, and nothing starts it a second time.
        await scenario.Environment.KillSiloAsync("host-a");
        await scenario.WaitUntilAsync("host-a", HostState.Down);
        var unreachable = await scenario.Client.GetVmAsync("original");
        Assert.Equal(VmState.Running, unreachable.State);
        Assert.False(unreachable.Reachable);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => scenario.Client.StartVmAsync("original"))).Code);

        await scenario.Environment.StartSiloAsync("host-a");
        var back = await scenario.WaitForAsync("original", VmState.Running);
        Assert.Equal(original.Pid, back.Pid);
        Assert.True((await scenario.Client.GetVmAsync("original")).Reachable);
        Assert.Equal([original.Pid.Value], scenario.QemuOf("original"));
        await scenario.AssertInvariantsAsync();
    }

    [Fact]
    public async Task A_host_is_bound_to_its_machine_until_forgotten_and_a_process_no_record_claims_is_shown_and_never_duplicated()
    {
        await using var scenario = await FaultScenario.StartAsync("host-a", "host-b");
        var left = await scenario.RunTinyAsync("left-behind", "host-b");
        var machine = (await scenario.Client.GetHostAsync("host-b")).Machine;
        Assert.False(string.IsNullOrEmpty(machine));

        await scenario.Environment.KillSiloAsync("host-b");
        await scenario.WaitUntilAsync("host-b", HostState.Down);
        var busy = await Assert.ThrowsAsync<FabricException>(() => scenario.Client.ForgetHostAsync("host-b"));
        Assert.Equal(ErrorCodes.Conflict, busy.Code);
        Assert.Contains("left-behind", busy.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => scenario.Client.ForgetHostAsync("host-a"))).Code);

        // The VM goes; so may the host, whose ledger (with the VM's entry) goes with it.
        await scenario.Client.DeleteVmAsync("left-behind", new DeleteOptions { Force = true });
        await scenario.Client.ForgetHostAsync("host-b");
        Assert.DoesNotContain(await scenario.Client.ListHostsAsync(), h => h.Name == "host-b");

        // Another machine may now serve host-b. The old QEMU is still there, and no record places it: unmanaged.
        await scenario.Environment.StartSiloAsync("host-b", new Dictionary<string, string> { ["Fabric__MachineId"] = "another-machine" });
        await scenario.WaitUntilAsync("host-b", HostState.Ready);
        var host = await scenario.Client.GetHostAsync("host-b");
        Assert.Equal("another-machine", host.Machine);
        var unmanaged = Assert.Single(host.Unmanaged);
        Assert.Equal(("left-behind", left.Pid), (unmanaged.Vm, unmanaged.Pid));

        var refused = await Assert.ThrowsAsync<FabricException>(() => scenario.Client.CreateVmAsync(FaultScenario.Tiny("left-behind", "host-b")));
        Assert.Contains($"unmanaged QEMU process on host 'host-b' (pid {left.Pid})", refused.Message, StringComparison.Ordinal);
        Assert.Equal([left.Pid!.Value], scenario.QemuOf("left-behind"));
        scenario.Invariants.Unmanaged.Add("left-behind");
        await scenario.AssertInvariantsAsync();

        // And this machine may not take host-b back.
        await scenario.Environment.StopSiloAsync("host-b");
        var original = scenario.Environment.StartExtraSilo("host-b", "host-b-first-machine");
        Assert.Equal(Refused, await original.WaitForExitAsync(ExitWithin));
        Assert.Single(original.LinesContaining($"host 'host-b' is bound to machine 'another-machine', the first that served it; this silo runs on machine '{machine}'"));
    }
}
