using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>
/// Projects and their quotas: a VM is charged to its project before it is placed, racing creates stop exactly at the
/// quota, and whatever ends a VM (a failed create, a delete) gives its charge back.
/// </summary>
public sealed class ProjectQuotaTests : IAsyncLifetime
{
    private static readonly string[] Hosts = ["host-a", "host-b"];
    private FabricTestCluster _fabric = null!;

    // Two hosts of 16 vCPU / 16 GiB: room for far more than any quota here lets through.
    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"], ["host-b"]], vcpus: 16, memoryMiB: 16384);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    private IProjectGrain Project(string name) => _fabric.OrleansClient.GetGrain<IProjectGrain>(name);

    /// <summary>The VMs the hosts hold reservations for, as the hosts themselves say.</summary>
    private async Task<List<string>> HeldAsync()
    {
        var hosts = await Task.WhenAll(Hosts.Select(_fabric.Client.GetHostAsync));
        return [.. hosts.SelectMany(h => h.Vms).Order(StringComparer.Ordinal)];
    }

    private static VmSpec Spec(string name, string project, int vcpus = 1, int memoryMiB = 64) =>
        new() { Name = name, Image = "tiny", Project = project, VCpus = vcpus, MemoryMiB = memoryMiB };

    [Fact]
    public async Task Thirty_racing_creates_in_a_project_of_five_vms_make_exactly_five_and_a_delete_frees_room()
    {
        var client = _fabric.Client;
        await Project("race").Create(new ProjectQuota { Vms = 5 });

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            var name = $"race-{i:D2}";
            try
            {
                await client.CreateVmAsync(Spec(name, "race"));
                return (Name: name, Error: (FabricException?)null);
            }
            catch (FabricException ex)
            {
                return (Name: name, Error: ex);
            }
        }));

        var created = outcomes.Where(o => o.Error is null).Select(o => o.Name).Order().ToList();
        var refused = outcomes.Where(o => o.Error is not null).ToList();
        Assert.Equal(5, created.Count);
        Assert.All(refused, o => Assert.Equal((ErrorCodes.InsufficientQuota, "project 'race' quota vms: 5 in use + 1 asked > 5"), (o.Error!.Code, o.Error.Message)));
        Assert.Equal(new ProjectUsage { Vms = 5, VCpus = 5, MemoryMiB = 320 }, (await Project("race").Get()).Usage);

        // Only the five exist, listed with their project, and the hosts hold exactly them.
        var listed = await client.ListVmsAsync();
        Assert.Equal(created, listed.Select(v => v.Name));
        Assert.All(listed, v => Assert.Equal("race", v.Project));
        Assert.Equal("race", (await client.GetVmAsync(created[0])).Project);
        Assert.Equal(created, await HeldAsync());
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync(refused[0].Name))).Code);

        // A delete gives its charge back: one more fits, and then no more.
        await client.DeleteVmAsync(created[0]);
        Assert.Equal(new ProjectUsage { Vms = 4, VCpus = 4, MemoryMiB = 256 }, (await Project("race").Get()).Usage);
        await client.CreateVmAsync(Spec("race-late", "race"));
        var full = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(Spec("race-later", "race")));
        Assert.Equal(ErrorCodes.InsufficientQuota, full.Code);
        Assert.Equal(5, (await Project("race").Get()).Usage.Vms);
    }

    [Fact]
    public async Task The_vcpu_and_memory_quotas_are_named_with_their_figures_and_a_new_quota_applies_to_the_next_vm()
    {
        var client = _fabric.Client;
        await Project("cpu").Create(new ProjectQuota { VCpus = 7 });
        for (var i = 0; i < 3; i++)
        {
            await client.CreateVmAsync(Spec($"cpu-{i}", "cpu", vcpus: 2));
        }

        var vcpus = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(Spec("cpu-3", "cpu", vcpus: 2)));
        Assert.Equal("project 'cpu' quota vcpus: 6 in use + 2 asked > 7", vcpus.Message);

        // A quota below what is in use is allowed: it refuses new VMs and touches none of the others.
        var lowered = await Project("cpu").SetQuota(new ProjectQuota { MemoryMiB = 100 });
        Assert.Equal(new ProjectQuota { MemoryMiB = 100 }, lowered.Quota);
        var memory = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(Spec("cpu-3", "cpu", memoryMiB: 128)));
        Assert.Equal((ErrorCodes.InsufficientQuota, "project 'cpu' quota memory: 192 MiB in use + 128 MiB asked > 100 MiB"), (memory.Code, memory.Message));
        Assert.Equal(3, (await client.ListVmsAsync()).Length);

        await Project("cpu").SetQuota(ProjectQuota.Unlimited);
        await client.CreateVmAsync(Spec("cpu-3", "cpu", vcpus: 2));
        Assert.Equal(new ProjectUsage { Vms = 4, VCpus = 8, MemoryMiB = 256 }, (await Project("cpu").Get()).Usage);
    }

    [Fact]
    public async Task The_quota_is_charged_before_placement_and_a_create_that_fails_afterwards_gives_the_charge_back()
    {
        var client = _fabric.Client;
        await Project("one").Create(new ProjectQuota { Vms = 1 });

        // No host is named 'host-zz': placement refuses the VM after its project was charged, and the charge goes back.
        var unplaceable = Spec("lost", "one") with { Placement = new VmPlacement { Host = "host-zz" } };
        var placement = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(unplaceable));
        Assert.NotEqual(ErrorCodes.InsufficientQuota, placement.Code);
        Assert.Equal(new ProjectUsage(), (await Project("one").Get()).Usage);
        await client.CreateVmAsync(Spec("kept", "one"));

        // Past the quota, the unplaceable VM is refused by the quota: it is checked first, and nothing is reserved.
        var quota = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(unplaceable));
        Assert.Equal(ErrorCodes.InsufficientQuota, quota.Code);

        // A project that does not exist charges nothing and places nothing.
        var unknown = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(Spec("orphan", "nope")));
        Assert.Equal((ErrorCodes.NotFound, "project 'nope' does not exist"), (unknown.Code, unknown.Message));
        Assert.Equal(["kept"], await HeldAsync());
    }

    [Fact]
    public async Task A_project_lists_with_its_usage_and_is_deleted_only_once_its_vms_are()
    {
        var client = _fabric.Client;
        var created = await Project("team").Create(new ProjectQuota { Vms = 10, MemoryMiB = 4096 });
        Assert.Equal(("team", new ProjectQuota { Vms = 10, MemoryMiB = 4096 }, new ProjectUsage()), (created.Name, created.Quota, created.Usage));
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => Project("team").Create(ProjectQuota.Unlimited))).Code);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => Project("Team").Create(ProjectQuota.Unlimited))).Code);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => Project("neg").Create(new ProjectQuota { VCpus = -1 }))).Code);

        await client.CreateVmAsync(Spec("team-1", "team", vcpus: 2, memoryMiB: 128));
        await client.CreateVmAsync(new VmSpec { Name = "plain", Image = "tiny", MemoryMiB = 64 });

        var projects = await _fabric.OrleansClient.GetGrain<IProjectDirectoryGrain>(IProjectDirectoryGrain.Key).List();
        Assert.Equal<string>(["default", "team"], projects.Select(p => p.Name));
        Assert.Equal(new ProjectUsage { Vms = 1, VCpus = 1, MemoryMiB = 64 }, projects[0].Usage);
        Assert.Equal(new ProjectUsage { Vms = 1, VCpus = 2, MemoryMiB = 128 }, projects[1].Usage);
        Assert.Equal(ProjectQuota.Unlimited, projects[0].Quota);

        var busy = await Assert.ThrowsAsync<FabricException>(() => Project("team").Delete());
        Assert.Equal((ErrorCodes.Conflict, "project 'team' has 1 VM(s) (vm team-1); delete them first"), (busy.Code, busy.Message));

        await client.DeleteVmAsync("team-1");
        await Project("team").Delete();
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => Project("team").Get())).Code);
        Assert.Equal<string>(["default"], (await _fabric.OrleansClient.GetGrain<IProjectDirectoryGrain>(IProjectDirectoryGrain.Key).List()).Select(p => p.Name));

        // The default project always exists.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => Project("default").Delete())).Code);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => Project("default").Create(ProjectQuota.Unlimited))).Code);
        Assert.Equal(1, (await Project("default").Get()).Usage.Vms);
    }

    [Fact]
    public async Task Fleet_events_about_a_vm_carry_its_project()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var watch = await _fabric.Client.SubscribeAsync();
        await Project("ev").Create(ProjectQuota.Unlimited);

        await _fabric.Client.CreateVmAsync(Spec("ev-1", "ev"));
        await _fabric.Client.StartVmAsync("ev-1");
        await _fabric.Client.DeleteVmAsync("ev-1", new DeleteOptions { Force = true });

        var seen = new List<FleetEvent>();
        await foreach (var fleetEvent in watch.WithCancellation(cancel.Token))
        {
            seen.Add(fleetEvent);
            if (fleetEvent is { Vm: "ev-1", Kind: FleetEventKind.VmDeleted })
            {
                break;
            }
        }

        var forVm = seen.Where(e => e.Vm == "ev-1").ToList();
        Assert.Contains(forVm, e => e.Kind == FleetEventKind.VmPlaced);
        Assert.Contains(forVm, e => e.Kind == FleetEventKind.VmStateChanged);
        Assert.All(forVm, e => Assert.Equal("ev", e.Project));
    }

    [Fact]
    public async Task A_vm_deleted_by_force_while_its_host_is_down_is_refunded()
    {
        var client = _fabric.Client;
        await Project("down").Create(new ProjectQuota { Vms = 1 });
        await client.CreateVmAsync(Spec("on-b", "down") with { Placement = new VmPlacement { Host = "host-b" } });

        await _fabric.KillSiloServing("host-b");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await client.ListHostsAsync()).Single(h => h.Name == "host-b").State != HostState.Down)
        {
            Assert.True(DateTime.UtcNow < deadline, "host-b never became Down");
            await Task.Delay(200);
        }

        await client.DeleteVmAsync("on-b", new DeleteOptions { Force = true });

        Assert.Equal(new ProjectUsage(), (await Project("down").Get()).Usage);
        var next = await client.CreateVmAsync(Spec("on-a", "down"));
        Assert.Equal("host-a", next.Host);
    }
}
