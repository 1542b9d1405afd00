using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>A host silo dies in the middle of a request; the request is driven to its end anyway, with no further command.</summary>
public sealed class InterruptedRequestTests
{
    [Fact]
    public async Task A_stop_interrupted_by_a_silo_crash_finishes_after_the_restart_without_further_commands()
    {
        await using var scenario = await FaultScenario.StartAsync("host-a", "host-b");
        var vm = await scenario.RunTinyAsync("stopper", "host-a");

        // The tiny guest ignores the ACPI power button, so the stop stays in its grace period while the silo dies.
        var stopping = await scenario.Client.StopVmAsync("stopper", new StopOptions { GracePeriod = TimeSpan.FromSeconds(8) }, wait: false);
        Assert.Equal(VmState.Stopping, stopping.State);
        await scenario.Environment.KillSiloAsync("host-a");
        Assert.True(Processes.IsAlive(vm.Pid!.Value), "killing the silo ended the guest");
        await scenario.Environment.StartSiloAsync("host-a");

        var stopped = await scenario.WaitForAsync("stopper", VmState.Stopped);
        Assert.Equal(VmState.Stopped, stopped.State);
        Assert.Empty(scenario.QemuOf("stopper"));
        await scenario.AssertInvariantsAsync();
    }

    [Fact]
    public async Task A_launch_in_flight_when_its_silo_dies_ends_with_one_qemu_that_matches_the_record()
    {
        await using var scenario = await FaultScenario.StartAsync("host-b");
        var wrapper = SlowQemu.Write(scenario.Environment.Directory, delaySeconds: 6);
        var slow = new Dictionary<string, string> { ["Fabric__QemuBinary"] = wrapper };
        await scenario.Environment.StartSiloAsync("host-a", slow);
        await scenario.Client.CreateVmAsync(FaultScenario.Tiny("slowpoke", "host-a"));

        var start = scenario.Client.StartVmAsync("slowpoke");
        await SlowQemu.WaitUntilLaunchingAsync(wrapper);
        await scenario.Environment.KillSiloAsync("host-a");

        // The caller cannot know how the start ended: its host died mid-call.
        var error = await Assert.ThrowsAsync<FabricException>(() => start);
        Assert.Equal(ErrorCodes.Unavailable, error.Code);

        await scenario.Environment.StartSiloAsync("host-a", slow);
        var running = await scenario.WaitForAsync("slowpoke", VmState.Running);
        Assert.Equal(VmState.Running, running.State);
        var qemu = Assert.Single(scenario.QemuOf("slowpoke"));
        Assert.Equal(qemu, running.Pid);
        await scenario.AssertInvariantsAsync();
    }
}

/// <summary>A QEMU wrapper that takes its time before it execs QEMU (its version query answers at once).</summary>
internal static class SlowQemu
{
    public static string Write(string directory, int delaySeconds)
    {
        var path = Path.Combine(directory, "slow-qemu.sh");
        File.WriteAllText(path, $"""
            #!/bin/sh
            [ "$1" = "-version" ] || sleep {delaySeconds}
            exec qemu-system-x86_64 "$@"

            """);
        // QEMU runs as a VM's uid in group fabric-qemu (docs/confinement.md): the wrapper it execs must be readable and executable by that group.
        Fabric.Hypervisor.Confinement.Ownership.Set(path, 0, Fabric.Hypervisor.Confinement.QemuGroup.Resolve(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        return path;
    }

    /// <summary>Waits until the wrapper runs for a launch (not for the version query).</summary>
    public static async Task WaitUntilLaunchingAsync(string wrapper)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!ProcessSweep.Find(wrapper).Any(pid => Processes.Arguments(pid).Contains("-pidfile")))
        {
            Assert.True(DateTime.UtcNow < deadline, "the slow QEMU wrapper never ran a launch");
            await Task.Delay(50);
        }
    }
}
