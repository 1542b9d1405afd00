using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Qmp;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>A driver that goes away (a silo restart) leaves its VMs running; the next one on the same directory finds them.</summary>
public sealed class ReattachTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "tiny-1";

    [Fact]
    public async Task Attach_AfterTheDriverWasDisposed_FindsTheGuestRunningWithTheSamePidAndBootId()
    {
        var first = await StartDriverAsync();
        var pid = await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        var console = first.Console(Vm);
        var boot = (await console.WaitForAsync(GuestConsole.Ready(), TinyBoot)).Boot();
        var lastTick = (await console.WaitForAsync(GuestConsole.Tick(), NextTick)).Count();

        await first.Driver.DisposeAsync();
        Assert.True(Processes.IsAlive(pid), "disposing the driver stopped QEMU");

        var second = await StartDriverAsync();
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));
        Assert.Equal(new ProcessStatus(Vm, 1, found.InstanceId, ProcessPower.Running, pid, null), found);
        Assert.Equal(found, second.Driver.GetStatus(Vm));

        // The whole log is still there: the same boot (no second ready line), and the count carries on.
        var again = second.Console(Vm);
        Assert.Equal(boot, (await again.WaitForAsync(GuestConsole.Ready(), TinyBoot)).Boot());
        var tick = await again.WaitForAsync(GuestConsole.Tick(), NextTick);
        while (tick.Count() <= lastTick)
        {
            Assert.Equal(boot, tick.Boot());
            tick = await again.WaitForAsync(GuestConsole.Tick(), NextTick);
        }

        Assert.Equal(boot, tick.Boot());
        Assert.Equal(lastTick + 1, tick.Count());
        await again.WaitForAsync(GuestConsole.Tick(), NextTick);

        // The re-attached driver controls the process: a forced stop ends it and is reported.
        await second.StopAsync(Vm, QemuSandbox.Force);
        var ended = await second.EndedAsync(Vm, ProcessEnd);
        Assert.Equal(ProcessPower.ShutDown, ended.Status.Power);
        AssertProcessGone(pid);
    }

    [Fact]
    public async Task Attach_APausedGuest_FindsItPausedAndCanResumeIt()
    {
        var first = await StartDriverAsync();
        var pid = await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        await first.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);
        await first.Driver.PauseAsync(Vm, CancellationToken.None);
        await first.Driver.DisposeAsync();

        var second = await StartDriverAsync();
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));
        Assert.Equal(ProcessPower.Paused, found.Power);
        Assert.Equal(pid, found.Pid);

        await second.Driver.ResumeAsync(Vm, CancellationToken.None);
        var console = second.Console(Vm);
        await console.WaitForAsync(GuestConsole.Ready(), TinyBoot);
        await console.WaitForAsync(GuestConsole.Tick(), NextTick);
        Assert.Equal(ProcessPower.Running, second.Driver.GetStatus(Vm).Power);
    }

    [Fact]
    public async Task Attach_AGuestKilledWhileNoDriverWatched_ReportsItCrashed()
    {
        var first = await StartDriverAsync();
        var pid = await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        await first.Driver.DisposeAsync();
        Processes.Kill(pid);
        await WaitUntilDeadAsync(pid);

        var second = await StartDriverAsync();
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));

        Assert.Equal(ProcessPower.Crashed, found.Power);
        Assert.Null(found.Pid);
        Assert.Contains("no host agent was attached", found.Reason, StringComparison.Ordinal);
        Assert.Equal(found, second.Driver.GetStatus(Vm));
        AssertProcessGone(pid);
    }

    [Fact]
    public async Task Attach_AGuestThatQuitWhileNoDriverWatched_ReportsItShutDown()
    {
        var first = await StartDriverAsync();
        var pid = await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        await first.Driver.DisposeAsync();
        await using (var qmp = await QmpClient.ConnectAsync(VmPaths.For(Sandbox.DataDirectory, Vm).QmpSocket))
        {
            await qmp.ExecuteAsync("quit");
        }

        await WaitUntilDeadAsync(pid);

        var second = await StartDriverAsync();
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));

        Assert.Equal(ProcessPower.ShutDown, found.Power);
        Assert.Contains("no host agent was attached", found.Reason, StringComparison.Ordinal);
        AssertProcessGone(pid);
    }

    [Fact]
    public async Task Attach_AGuestThatEndedUnderTheFirstDriver_ReportsTheRecordedEnd()
    {
        var first = await StartDriverAsync();
        await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        await first.StopAsync(Vm, QemuSandbox.Force);
        var ended = await first.EndedAsync(Vm, ProcessEnd);
        await first.Driver.DisposeAsync();

        var second = await StartDriverAsync();
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));

        Assert.Equal(ended.Status, found);
    }

    [Fact]
    public async Task AttachAll_Twice_KeepsWatchingTheSameProcess()
    {
        var host = await StartDriverAsync();
        var pid = await host.LaunchAsync(QemuSandbox.Tiny(Vm));

        var found = Assert.Single(await host.Driver.AttachAllAsync(CancellationToken.None));

        Assert.Equal(ProcessPower.Running, found.Power);
        Assert.Equal(pid, found.Pid);
        var paused = await host.Driver.PauseAsync(Vm, CancellationToken.None);
        Assert.Equal(ProcessPower.Paused, paused.Power);
    }

    [Fact]
    public async Task Monitor_AfterItsConnectionDropped_ReconnectsAndKeepsControl()
    {
        var host = await StartDriverAsync();
        var pid = await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        var console = host.Console(Vm);
        var boot = (await console.WaitForAsync(GuestConsole.Ready(), TinyBoot)).Boot();

        await host.Driver.DropMonitorConnectionAsync(Vm);

        // The command waits for the reconnect instead of failing, and the reconnected monitor still sees events.
        var paused = await host.Driver.PauseAsync(Vm, CancellationToken.None);
        Assert.Equal(ProcessPower.Paused, paused.Power);
        Assert.Contains(Sandbox.Logger.Entries, e => e.Contains("QMP connection re-established", StringComparison.Ordinal));
        await host.Events.WaitForAsync(Vm, s => s.Power == ProcessPower.Paused, TimeSpan.FromSeconds(2));
        await host.Driver.ResumeAsync(Vm, CancellationToken.None);
        Assert.Equal(boot, (await console.WaitForAsync(GuestConsole.Tick(), NextTick)).Boot());

        Processes.Kill(pid);
        var ended = await host.EndedAsync(Vm, TimeSpan.FromSeconds(2));
        Assert.Equal(ProcessPower.Crashed, ended.Status.Power);
        AssertProcessGone(pid);
    }

    [Fact]
    public async Task Launch_OverAProcessNoDriverAttached_IsAConflict()
    {
        var first = await StartDriverAsync();
        var pid = await first.LaunchAsync(QemuSandbox.Tiny(Vm));
        await first.Driver.DisposeAsync();

        var second = await StartDriverAsync();
        var refused = await Assert.ThrowsAsync<HypervisorException>(() => second.Driver.LaunchAsync(QemuSandbox.Tiny(Vm), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Conflict, refused.Kind);
        Assert.True(Processes.IsAlive(pid));
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));
        Assert.Equal(ProcessPower.Running, found.Power);
        Assert.Equal(pid, found.Pid);
    }

    [Fact]
    public async Task SecondDriver_OnADirectoryInUse_IsRefused()
    {
        var first = await StartDriverAsync();
        await first.LaunchAsync(QemuSandbox.Tiny(Vm));

        var refused = await Assert.ThrowsAsync<HypervisorException>(() => StartDriverAsync());

        Assert.Equal(HypervisorErrorKind.Conflict, refused.Kind);
        Assert.Equal(ProcessPower.Running, first.Driver.GetStatus(Vm).Power);
    }

    /// <summary>The process was killed or quit by the test itself: wait for the kernel to say so (not a fixed sleep).</summary>
    private static async Task WaitUntilDeadAsync(int pid)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (Processes.IsAlive(pid))
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
