using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.ControlPlane;
using Fabric.EndToEndTests.Driver;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Migration;

/// <summary>
/// Live migration through the fabric, between host silos that are network peers (each in its own namespace, as
/// root): the stream crosses the underlay. A ticking guest keeps its boot id and its count; the fabric and QEMU's
/// own figures agree; the invariant check ends every test.
/// </summary>
public sealed class LiveMigrationTests(ITestOutputHelper output)
{
    /// <summary>The linux guest ticks every 0.5 s.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    /// <summary>How late a console follower may see a line (it polls across the switch of host).</summary>
    private static readonly TimeSpan FollowerSlack = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_ticking_guest_moves_to_the_other_host_and_back_paused_keeping_its_boot_and_count()
    {
        await using var scenario = await FaultScenario.StartAsync(FaultScenario.PeersWherePossible, "host-a", "host-b");
        var client = scenario.Client;
        await client.CreateVmAsync(new VmSpec { Name = "mover", Image = "linux", MemoryMiB = 256, Placement = new VmPlacement { Host = "host-a" } });
        var before = await client.StartVmAsync("mover");
        var console = new VmConsole(client, "mover");
        var boot = await console.WaitForReadyAsync(TimeSpan.FromSeconds(120));
        await console.WaitForTickAsync(boot, after: 2);

        using var following = new CancellationTokenSource();
        var ticks = FollowTicksAsync(client, "mover", boot, following.Token);

        var started = await client.MigrateVmAsync("mover", new MigrationRequest());
        Assert.Equal("host-a", started.From);
        var result = await client.WaitForMigrationAsync("mover");
        output.WriteLine($"migration: {result.Phase} {result.From} -> {result.To} total {result.TotalMs} ms, QEMU total {result.QemuTotalMs} ms, downtime {result.DowntimeMs} ms, guest pause {result.GuestPauseMs} ms, {result.TransferredBytes} bytes in {result.Passes} passes; {result.Reason}");
        Assert.True(result.Phase == MigrationPhase.Succeeded, $"{result.Phase}: {result.Reason}");
        Assert.Equal("host-b", result.To);
        Assert.NotNull(result.DowntimeMs);
        Assert.NotNull(result.GuestPauseMs);
        Assert.InRange(result.GuestPauseMs!.Value, 0, 5_000);
        Assert.True(result.TransferredBytes > 0, "QEMU reported no bytes transferred");
        Assert.True(result.Passes >= 1, $"QEMU reported {result.Passes} passes");

        // Between hosts the stream is TLS with the hosts' certificates: QEMU's tls-creds, read on both sides.
        Assert.True(result.Encrypted, "the migration's stream was not TLS on both sides");

        var moved = await client.GetVmAsync("mover");
        Assert.Equal(VmState.Running, moved.State);
        Assert.Equal("host-b", moved.Host);
        Assert.True(moved.Epoch > before.Epoch, $"epoch {moved.Epoch} after {before.Epoch}");
        Assert.Equal(before.InstanceId, moved.InstanceId);
        Assert.Null(moved.Migration);

        // The guest goes on where it was: same boot, the next tick, and no gap longer than the pause plus a tick.
        var after = await new VmConsole(client, "mover").WaitForTickAsync(boot, timeout: TimeSpan.FromSeconds(30));
        await new VmConsole(client, "mover").WaitForTickAsync(boot, after: after + 2, timeout: TimeSpan.FromSeconds(30));
        await following.CancelAsync();
        var seen = await ticks;
        var gaps = seen.Zip(seen.Skip(1), (a, b) => (From: a.N, To: b.N, Gap: b.At - a.At)).ToList();
        var widest = gaps.MaxBy(g => g.Gap);
        output.WriteLine($"ticks seen {seen.First().N}..{seen.Last().N}; widest gap {widest.Gap.TotalMilliseconds:0} ms between {widest.From} and {widest.To}");
        Assert.All(gaps, g => Assert.Equal(g.From + 1, g.To));
        Assert.True(widest.Gap <= TimeSpan.FromMilliseconds(result.GuestPauseMs.Value) + Tick + FollowerSlack, $"a gap of {widest.Gap.TotalMilliseconds:0} ms between ticks {widest.From} and {widest.To}");
        Assert.Single(scenario.QemuOf("mover"));
        await scenario.AssertInvariantsAsync();

        // A paused guest moves too, and stays paused where it lands.
        await client.PauseVmAsync("mover");
        await client.MigrateVmAsync("mover", new MigrationRequest { TargetHost = "host-a", DowntimeLimitMs = 50 });
        var back = await client.WaitForMigrationAsync("mover");
        Assert.True(back.Phase == MigrationPhase.Succeeded, $"{back.Phase}: {back.Reason}");
        Assert.Null(back.GuestPauseMs);
        var paused = await client.GetVmAsync("mover");
        Assert.Equal((VmState.Paused, "host-a"), (paused.State, paused.Host));
        var last = seen.Last().N;
        await client.ResumeVmAsync("mover");
        await new VmConsole(client, "mover").WaitForTickAsync(boot, after: last, timeout: TimeSpan.FromSeconds(30));
        await scenario.AssertInvariantsAsync();
    }

    /// <summary>Follows the VM's console across hosts, noting when each tick of <paramref name="boot"/> arrived.</summary>
    private static async Task<List<(int N, DateTime At)>> FollowTicksAsync(Client.FabricClient client, string vm, string boot, CancellationToken cancellationToken)
    {
        var ticks = new List<(int N, DateTime At)>();
        try
        {
            await foreach (var line in client.ConsoleAsync(vm, follow: true, cancellationToken))
            {
                if (GuestConsole.Tick().Match(line) is { Success: true } tick && tick.Boot() == boot && (ticks.Count == 0 || tick.Count() > ticks[^1].N))
                {
                    ticks.Add((tick.Count(), DateTime.UtcNow));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return ticks;
    }
}
