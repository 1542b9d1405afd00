using System.Collections.Concurrent;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>Labels, selectors, bulk operations and the fleet event stream.</summary>
public sealed class FleetOperationsTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"], ["host-b"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private static VmSpec Spec(string name, string tier) => new()
    {
        Name = name,
        Image = "tiny",
        MemoryMiB = 32,
        Labels = Labels.Require("labels", new Dictionary<string, string> { ["tier"] = tier }),
    };

    [Fact]
    public async Task Bulk_create_names_vms_from_a_prefix_and_reports_each_one()
    {
        var progress = new ConcurrentBag<BulkProgress>();
        var results = await _fabric.Client.CreateVmsAsync(Spec("web", "front"), 12, new SyncProgress(progress));
        Assert.Equal(FabricClient.BulkNames("web", 12), results.Select(r => r.Vm));
        Assert.Equal("web-01", results[0].Vm);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error));
        Assert.Contains(progress, p => p.Done == 12 && p.Total == 12 && p.Failed == 0);

        // A second bulk create of the same names fails for each VM, with its own error.
        var again = await _fabric.Client.CreateVmsAsync(Spec("web", "front"), 12);
        Assert.All(again, r => Assert.Equal(ErrorCodes.Conflict, r.ErrorCode));
    }

    [Fact]
    public async Task Selector_picks_vms_by_label_and_bulk_actions_apply_to_exactly_those()
    {
        await _fabric.Client.CreateVmsAsync(Spec("front", "front"), 5);
        await _fabric.Client.CreateVmsAsync(Spec("back", "back"), 3);

        var front = LabelSelector.Parse("selector", "tier=front");
        Assert.Equal(5, (await _fabric.Client.ListVmsAsync(front)).Length);
        Assert.Equal(8, (await _fabric.Client.ListVmsAsync()).Length);

        var started = await _fabric.Client.RunBulkAsync(front, VmAction.Start);
        Assert.Equal(5, started.Length);
        Assert.All(started, r => Assert.Equal(VmState.Running, r.Info!.State));
        var all = await _fabric.Client.ListVmsAsync();
        Assert.All(all, vm => Assert.Equal(vm.Labels["tier"] == "front" ? VmState.Running : VmState.Defined, vm.State));

        var stopped = await _fabric.Client.RunBulkAsync(front, VmAction.Stop);
        Assert.All(stopped, r => Assert.Equal(VmState.Stopped, r.Info!.State));
        var deleted = await _fabric.Client.RunBulkAsync(front, VmAction.Delete);
        Assert.All(deleted, r => Assert.True(r.Succeeded));
        Assert.Equal(["back-1", "back-2", "back-3"], (await _fabric.Client.ListVmsAsync()).Select(v => v.Name));
    }

    [Fact]
    public async Task Watch_streams_placements_and_state_changes_across_the_fleet()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var watch = await _fabric.Client.SubscribeAsync();

        await _fabric.Client.CreateVmAsync(Spec("w-1", "x"));
        await _fabric.Client.StartVmAsync("w-1");
        await _fabric.Client.StopVmAsync("w-1");

        var seen = new List<FleetEvent>();
        await foreach (var fleetEvent in watch.WithCancellation(cancel.Token))
        {
            seen.Add(fleetEvent);
            if (fleetEvent is { Vm: "w-1", To: "Stopped" })
            {
                break;
            }
        }

        var forVm = seen.Where(e => e.Vm == "w-1").ToList();
        Assert.Equal(FleetEventKind.VmPlaced, forVm[0].Kind);
        Assert.Equal(["Starting", "Running", "Stopping", "Stopped"], forVm.Where(e => e.Kind == FleetEventKind.VmStateChanged).Select(e => e.To));
    }

    private sealed class SyncProgress(ConcurrentBag<BulkProgress> bag) : IProgress<BulkProgress>
    {
        public void Report(BulkProgress value) => bag.Add(value);
    }
}
