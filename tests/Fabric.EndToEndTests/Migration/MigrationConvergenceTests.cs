using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.Driver;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Migration;

/// <summary>
/// The memwalk guest dirties every page of its range many times a second: plain pre-copy cannot finish it. The
/// watchdog or the budget aborts it with the reason (the guest still walking on its source); post-copy finishes it;
/// auto-converge throttles it. Wherever it lands, its memory is dumped and checked page by page.
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class MigrationConvergenceTests(MigrationFabric fabric, ITestOutputHelper output)
{
    private const int MemoryMiB = 96;

    /// <summary>
    /// Over the veth underlay QEMU sends ~1 GB/s, enough to copy this whole guest within the default 300 ms downtime:
    /// a capped stream and a tight downtime make the guest's ~90 MiB dirtied per pass impossible to catch up with, as
    /// it would be on a real network with a guest this busy.
    /// </summary>
    private static MigrationRequest Outrun(bool postcopy = false, bool autoConverge = false) => new()
    {
        TargetHost = "host-b",
        BandwidthBytesPerSecond = 64L << 20,
        DowntimeLimitMs = 20,
        Postcopy = postcopy,
        AutoConverge = autoConverge,
    };

    [Fact]
    public async Task Plain_precopy_of_a_fast_dirtying_guest_is_aborted_with_the_reason_and_the_guest_walks_on_at_its_source()
    {
        var walk = await RunMemwalkAsync("walk-plain");
        var end = await MigrateAsync("walk-plain", Outrun());
        Assert.Equal(MigrationPhase.Failed, end.Phase);
        Assert.True(
            end.Reason!.Contains("no progress", StringComparison.Ordinal) || end.Reason.Contains("did not finish within its budget", StringComparison.Ordinal),
            end.Reason);
        Assert.True(end.Passes > 2, $"QEMU made {end.Passes} passes");
        var vm = await fabric.Client.GetVmAsync("walk-plain");
        Assert.Equal((VmState.Running, "host-a"), (vm.State, vm.Host));
        await WalksOnAsync("walk-plain", walk);
        await AssertMemoryIntactAsync("walk-plain", walk);
        await fabric.Scenario.AssertInvariantsAsync();
    }

    [PostcopyFact]
    public async Task Post_copy_finishes_a_fast_dirtying_guest_and_every_page_arrives_intact()
    {
        var walk = await RunMemwalkAsync("walk-postcopy");
        var end = await MigrateAsync("walk-postcopy", Outrun(postcopy: true));
        Assert.True(end.Phase == MigrationPhase.Succeeded, $"{end.Phase}: {end.Reason}");
        Assert.True(end.Postcopy, "the migration did not switch to post-copy");
        var vm = await fabric.Client.GetVmAsync("walk-postcopy");
        Assert.Equal((VmState.Running, "host-b"), (vm.State, vm.Host));
        await WalksOnAsync("walk-postcopy", walk);
        await AssertMemoryIntactAsync("walk-postcopy", walk);
        await fabric.Scenario.AssertInvariantsAsync();
    }

    [Fact]
    public async Task Auto_converge_throttles_a_fast_dirtying_guest_until_it_moves_or_the_watchdog_gives_up_with_the_reason()
    {
        var walk = await RunMemwalkAsync("walk-converge");
        var end = await MigrateAsync("walk-converge", Outrun(autoConverge: true));
        var vm = await fabric.Client.GetVmAsync("walk-converge");
        if (end.Phase == MigrationPhase.Succeeded)
        {
            Assert.Equal((VmState.Running, "host-b"), (vm.State, vm.Host));
        }
        else
        {
            Assert.Equal(MigrationPhase.Failed, end.Phase);
            Assert.False(string.IsNullOrEmpty(end.Reason));
            Assert.Equal((VmState.Running, "host-a"), (vm.State, vm.Host));
        }

        Assert.True(end.ThrottlePercent > 0 || end.Phase == MigrationPhase.Succeeded, $"auto-converge never throttled the guest ({end.Phase}: {end.Reason})");
        await WalksOnAsync("walk-converge", walk);
        await AssertMemoryIntactAsync("walk-converge", walk);
        await fabric.Scenario.AssertInvariantsAsync();
    }

    private async Task<Memwalk> RunMemwalkAsync(string name)
    {
        await fabric.EnsureSiloAsync("host-a");
        await fabric.EnsureSiloAsync("host-b");
        await fabric.Client.CreateVmAsync(new VmSpec { Name = name, Image = TestGuestImages.Memwalk, MemoryMiB = MemoryMiB, Placement = new VmPlacement { Host = "host-a" } });
        await fabric.Client.StartVmAsync(name);
        var console = new VmConsole(fabric.Client, name);
        var range = await console.WaitForAsync(GuestConsole.MemwalkRange());
        var pass = await console.WaitForAsync(GuestConsole.Pass(), m => m.Count() >= 2);
        return new Memwalk(range.Hex("base"), range.Hex("size"), pass.Boot());
    }

    private async Task<MigrationInfo> MigrateAsync(string vm, MigrationRequest request)
    {
        await fabric.Client.MigrateVmAsync(vm, request);
        var end = await fabric.Client.WaitForMigrationAsync(vm);
        output.WriteLine($"{vm}: {end.Phase} after {end.TotalMs} ms ({end.Passes} passes, {end.TransferredBytes} bytes, throttle {end.ThrottlePercent}%, post-copy {end.Postcopy}, downtime {end.DowntimeMs} ms, guest pause {end.GuestPauseMs} ms): {end.Reason}");
        return end;
    }

    /// <summary>The guest keeps walking with the same boot: a pass beyond the last one seen so far.</summary>
    private async Task WalksOnAsync(string vm, Memwalk walk)
    {
        var console = new VmConsole(fabric.Client, vm);
        var lines = await console.LinesAsync();
        var last = lines.Select(l => GuestConsole.Pass().Match(l)).Where(m => m.Success && m.Boot() == walk.Boot).Select(m => m.Count()).DefaultIfEmpty(0).Max();
        await console.WaitForAsync(GuestConsole.Pass(), m => m.Boot() == walk.Boot && m.Count() > last, TimeSpan.FromSeconds(30));
    }

    /// <summary>Pauses the guest where it runs, dumps its walked range and checks it page by page, then resumes it.</summary>
    private async Task AssertMemoryIntactAsync(string vm, Memwalk walk)
    {
        await fabric.Client.PauseVmAsync(vm);
        var path = await fabric.Client.DumpGuestMemoryAsync(vm, walk.Base, walk.Size);
        var check = MemwalkCheck.CheckFile(path, walk.Size);
        output.WriteLine($"{vm}: memory check of {check.Pages} pages: {check.Description}");
        Assert.True(check.Ok, check.Description);
        await fabric.Client.ResumeVmAsync(vm);
    }

    private sealed record Memwalk(long Base, long Size, string Boot);
}
