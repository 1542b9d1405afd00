using Fabric.Contracts;
using Fabric.EndToEndTests.Driver;
using Fabric.Hypervisor.Linux;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>Real guests booted through a real silo process and Redis, driven through Fabric.Client.</summary>
public sealed class VmThroughFabricTests(OneHostFabric fabric) : IClassFixture<OneHostFabric>
{
    private static VmSpec Spec(string name, string image) => new() { Name = name, Image = image, MemoryMiB = image == "linux" ? 256 : 16 };

    [Fact]
    public async Task Tiny_guest_boots_to_its_ready_line_and_ticks()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("tiny-boot", "tiny"));
        var running = await client.StartVmAsync("tiny-boot");
        Assert.Equal(VmState.Running, running.State);
        Assert.True(Processes.IsAlive(running.Pid!.Value));
        Assert.Contains(running.Pid.Value, fabric.Environment.QemuPidsOf("host-a"));

        var console = new VmConsole(client, "tiny-boot");
        var boot = await console.WaitForReadyAsync();
        Assert.True(await console.WaitForTickAsync(boot, after: 1) >= 2);

        await client.StopVmAsync("tiny-boot", new StopOptions { Force = true });
        await client.DeleteVmAsync("tiny-boot");
    }

    [Fact]
    public async Task Linux_guest_boots_and_runs_a_command_typed_into_its_console()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("linux-boot", "linux"));
        await client.StartVmAsync("linux-boot");
        var console = new VmConsole(client, "linux-boot");
        await console.WaitForReadyAsync();

        await client.SendConsoleAsync("linux-boot", "echo fabric-$((6*7))");
        await console.WaitForAsync(new System.Text.RegularExpressions.Regex("^fabric-42"));

        await client.StopVmAsync("linux-boot", new StopOptions { Force = true });
        await client.DeleteVmAsync("linux-boot");
    }

    [Fact]
    public async Task Pause_stops_the_ticks_and_resume_continues_them_with_the_same_boot()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("tiny-pause", "tiny"));
        await client.StartVmAsync("tiny-pause");
        var console = new VmConsole(client, "tiny-pause");
        var boot = await console.WaitForReadyAsync();
        await console.WaitForTickAsync(boot, after: 1);

        Assert.Equal(VmState.Paused, (await client.PauseVmAsync("tiny-pause")).State);
        var atPause = (await console.ProtocolAsync()).Ticks;

        // Three tick periods with the vCPUs stopped: not one new tick may appear.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var whilePaused = (await console.ProtocolAsync()).Ticks;
        Assert.Equal(atPause.Count, whilePaused.Count);

        Assert.Equal(VmState.Running, (await client.ResumeVmAsync("tiny-pause")).State);
        var last = atPause[^1].N;
        var next = await console.WaitForTickAsync(boot, after: last);
        Assert.Equal(last + 1, next);
        Assert.Equal([boot], (await console.ProtocolAsync()).ReadyBoots);

        await client.StopVmAsync("tiny-pause", new StopOptions { Force = true });
        await client.DeleteVmAsync("tiny-pause");
    }

    [Fact]
    public async Task Reboot_gives_a_new_boot_id()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("tiny-reboot", "tiny"));
        await client.StartVmAsync("tiny-reboot");
        var console = new VmConsole(client, "tiny-reboot");
        var first = await console.WaitForReadyAsync();

        await client.RebootVmAsync("tiny-reboot");
        var second = (await console.WaitForAsync(GuestConsole.Ready(), m => m.Boot() != first)).Boot();
        Assert.NotEqual(first, second);
        await console.WaitForTickAsync(second);

        await client.StopVmAsync("tiny-reboot", new StopOptions { Force = true });
        await client.DeleteVmAsync("tiny-reboot");
    }

    [Fact]
    public async Task Stop_leaves_no_qemu_process()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("linux-stop", "linux"));
        var running = await client.StartVmAsync("linux-stop");
        await new VmConsole(client, "linux-stop").WaitForReadyAsync();

        // Graceful: the ACPI power button makes the linux guest power off.
        var stopped = await client.StopVmAsync("linux-stop");
        Assert.Equal(VmState.Stopped, stopped.State);
        Assert.Equal("guest powered off", stopped.Reason);
        Assert.False(Processes.IsAlive(running.Pid!.Value));
        Assert.DoesNotContain(running.Pid.Value, fabric.Environment.QemuPidsOf("host-a"));

        await client.DeleteVmAsync("linux-stop");
    }

    [Fact]
    public async Task A_guest_that_powers_itself_off_is_recorded_stopped_within_seconds()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("linux-off", "linux"));
        await client.StartVmAsync("linux-off");
        await new VmConsole(client, "linux-off").WaitForReadyAsync();

        await client.SendConsoleAsync("linux-off", "poweroff -f");
        var stopped = await client.WaitForVmAsync("linux-off", [VmState.Stopped, VmState.Failed], TimeSpan.FromSeconds(10));
        Assert.Equal(VmState.Stopped, stopped.State);
        Assert.Equal("guest powered off", stopped.Reason);

        await client.DeleteVmAsync("linux-off");
    }

    [Fact]
    public async Task Fleet_events_reach_a_watching_client_through_redis_backed_subscriptions()
    {
        var client = fabric.Client;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var watch = await client.SubscribeAsync();

        await client.CreateVmAsync(Spec("tiny-watched", "tiny"));
        await client.StartVmAsync("tiny-watched");
        await client.StopVmAsync("tiny-watched", new StopOptions { Force = true });
        await client.DeleteVmAsync("tiny-watched");

        var seen = new List<FleetEvent>();
        await foreach (var fleetEvent in watch.WithCancellation(cancel.Token))
        {
            if (fleetEvent.Vm == "tiny-watched")
            {
                seen.Add(fleetEvent);
            }

            if (fleetEvent is { Vm: "tiny-watched", Kind: FleetEventKind.VmDeleted })
            {
                break;
            }
        }

        Assert.Equal(
            [FleetEventKind.VmPlaced, FleetEventKind.VmStateChanged, FleetEventKind.VmStateChanged, FleetEventKind.VmStateChanged, FleetEventKind.VmStateChanged, FleetEventKind.VmDeleted],
            seen.Select(e => e.Kind));
        Assert.Equal(["Starting", "Running", "Stopping", "Stopped"], seen.Where(e => e.Kind == FleetEventKind.VmStateChanged).Select(e => e.To));
    }

    [Fact]
    public async Task A_qemu_that_crashes_is_recorded_failed_within_seconds()
    {
        var client = fabric.Client;
        await client.CreateVmAsync(Spec("tiny-crash", "tiny"));
        var running = await client.StartVmAsync("tiny-crash");

        Processes.Kill(running.Pid!.Value);
        var failed = await client.WaitForVmAsync("tiny-crash", [VmState.Failed, VmState.Stopped], TimeSpan.FromSeconds(10));
        Assert.Equal(VmState.Failed, failed.State);
        Assert.NotNull(failed.Reason);

        await client.DeleteVmAsync("tiny-crash");
    }
}
