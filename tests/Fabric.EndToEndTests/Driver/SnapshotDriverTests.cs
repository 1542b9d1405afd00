using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Snapshots through the driver (<see cref="ISnapshots"/>): the memwalk guest dirties its memory page after page while
/// it is snapshotted, so a snapshot that missed a page written meanwhile would break its page invariant once restored.
/// Both ways of writing a running guest are checked: QEMU's background-snapshot and a pre-copy to the file.
/// </summary>
public sealed class SnapshotDriverTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "snap-1";
    private const int MemoryMiB = 64;

    /// <summary>A pass line comes when the guest's clock seconds change: about once a second.</summary>
    private static readonly TimeSpan NextPass = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunningGuest_SnapshotKeepsItRunning_AndItsRestoreHoldsThePageInvariant(bool background)
    {
        var host = await StartDriverAsync();
        host.Driver.PreferBackgroundSnapshot = background;
        var snapshots = SnapshotsOf(host.Driver);
        var spec = QemuSandbox.Memwalk(Vm, MemoryMiB);
        await host.LaunchAsync(spec);
        var console = host.Console(Vm);
        var boot = (await console.WaitForAsync(GuestConsole.Ready(), TinyBoot)).Boot();
        var range = await console.WaitForAsync(GuestConsole.MemwalkRange(), TinyBoot);
        var (address, length) = (range.Hex("base"), range.Hex("size"));
        var before = await console.WaitForAsync(GuestConsole.Pass(), NextPass);

        var taken = await snapshots.CreateSnapshotAsync(Vm, "walk", CancellationToken.None);
        Output.WriteLine($"{taken.Method}: {taken.File.SizeBytes} bytes, guest pause {taken.GuestPause?.TotalMilliseconds} ms, {taken.Total.TotalMilliseconds:0} ms in all");
        Assert.Equal(background && QemuSandbox.UnprivilegedUserfaultfd ? SnapshotMethods.Background : SnapshotMethods.Precopy, taken.Method);
        Assert.Equal(Path.Combine(Sandbox.DataDirectory, "snapshots", Vm, "walk.state"), taken.File.Path);
        Assert.True(taken.WasRunning);
        Assert.NotNull(taken.GuestPause);
        Assert.InRange(taken.GuestPause!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        Assert.True(MigrationStreamFile.IsComplete(taken.File.Path), "the snapshot lacks the stream's trailer");
        Assert.False(File.Exists(taken.File.Path + ".tmp"), "the temporary file was left behind");
        Assert.Equal(ProcessPower.Running, host.Driver.GetStatus(Vm).Power);

        // The guest kept walking.
        var after = await console.WaitForAsync(GuestConsole.Pass(), NextPass);
        Assert.Equal(boot, after.Boot());
        Assert.True(after.Count() > before.Count(), $"the walk did not go on: {before.Value}, then {after.Value}");

        // Restore into a new process, left paused, and check its memory page by page.
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        var restored = await snapshots.RestoreSnapshotAsync(spec with { InstanceId = Guid.NewGuid() }, "walk", resume: false, CancellationToken.None);
        Assert.Equal(ProcessPower.Paused, restored.Power);
        Assert.Null(restored.Reason);
        var memory = ((IHypervisorDriver)host.Driver).Capability<IGuestMemory>()!;
        var dump = await File.ReadAllBytesAsync(await memory.DumpAsync(Vm, address, length, CancellationToken.None));
        var check = MemwalkCheck.Check(dump, length);
        Output.WriteLine(check.Description);
        Assert.True(check.Ok, check.Description);

        // Resumed, it walks on from where the snapshot left it, with the same boot.
        await host.Driver.ResumeAsync(Vm, CancellationToken.None);
        var resumed = await new ConsoleTail(host.Driver, Vm).WaitForAsync(GuestConsole.Pass(), NextPass);
        Assert.Equal(boot, resumed.Boot());
    }

    [Fact]
    public async Task PausedGuest_StaysPaused_WithNoPauseToReport()
    {
        var host = await StartDriverAsync();
        var snapshots = SnapshotsOf(host.Driver);
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), TinyBoot);
        await host.Driver.PauseAsync(Vm, CancellationToken.None);

        var taken = await snapshots.CreateSnapshotAsync(Vm, "paused", CancellationToken.None);
        Assert.Equal(SnapshotMethods.Precopy, taken.Method);
        Assert.False(taken.WasRunning);
        Assert.Null(taken.GuestPause);
        Assert.Equal(ProcessPower.Paused, host.Driver.GetStatus(Vm).Power);
        Assert.Equal(taken.File, snapshots.FindSnapshot(Vm, "paused"));

        // A second one replaces nothing else; and a live process cannot be restored over.
        await snapshots.CreateSnapshotAsync(Vm, "again", CancellationToken.None);
        var busy = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.RestoreSnapshotAsync(QemuSandbox.Tiny(Vm), "paused", resume: true, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.Conflict, busy.Kind);

        await snapshots.DeleteSnapshotAsync(Vm, "paused", [], CancellationToken.None);
        Assert.Null(snapshots.FindSnapshot(Vm, "paused"));
        Assert.NotNull(snapshots.FindSnapshot(Vm, "again"));
        await snapshots.DeleteSnapshotsAsync(Vm, CancellationToken.None);
        Assert.False(Directory.Exists(Path.Combine(Sandbox.DataDirectory, "snapshots", Vm)));

        // It is an ordinary pause again: QEMU takes another snapshot of it, and it resumes.
        Assert.True((await snapshots.CreateSnapshotAsync(Vm, "third", CancellationToken.None)).File.SizeBytes > 0);
        Assert.Equal(ProcessPower.Running, (await host.Driver.ResumeAsync(Vm, CancellationToken.None)).Power);
    }

    [Fact]
    public async Task UnsafeNamesMissingFilesAndAbsentProcessesAreRefused()
    {
        var host = await StartDriverAsync();
        var snapshots = SnapshotsOf(host.Driver);
        foreach (var name in new[] { "../x", "a/b", "", "UPPER", "x\n" })
        {
            var refused = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.CreateSnapshotAsync(Vm, name, CancellationToken.None));
            Assert.Equal(HypervisorErrorKind.InvalidRequest, refused.Kind);
        }

        var absent = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.CreateSnapshotAsync(Vm, "s1", CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.NotFound, absent.Kind);
        var missing = await Assert.ThrowsAsync<HypervisorException>(() => snapshots.RestoreSnapshotAsync(QemuSandbox.Tiny(Vm), "s1", resume: true, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.NotFound, missing.Kind);
        Assert.Empty(host.Driver.List());
        Assert.Null(snapshots.FindSnapshot(Vm, "s1"));
    }

    private static ISnapshots SnapshotsOf(IHypervisorDriver driver) =>
        driver.Capability<ISnapshots>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no snapshots");
}
