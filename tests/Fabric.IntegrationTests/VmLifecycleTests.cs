using Fabric.Contracts;

namespace Fabric.IntegrationTests;

/// <summary>VM lifecycle through the grains, one host, simulated driver.</summary>
public sealed class VmLifecycleTests : IAsyncLifetime
{
    private FabricTestCluster _fabric = null!;

    public async Task InitializeAsync() => _fabric = await FabricTestCluster.StartAsync([["host-a"]]);

    public async Task DisposeAsync() => await _fabric.DisposeAsync();

    [Fact]
    public async Task Vm_goes_through_its_lifecycle_and_records_each_transition()
    {
        var client = _fabric.Client;
        var created = await client.CreateVmAsync(new VmSpec { Name = "web-1", Image = "tiny", MemoryMiB = 64, Labels = Labels.Require("labels", new Dictionary<string, string> { ["app"] = "web" }) });
        Assert.Equal(VmState.Defined, created.State);
        Assert.Equal("host-a", created.Host);

        var running = await client.StartVmAsync("web-1");
        Assert.Equal(VmState.Running, running.State);
        Assert.NotNull(running.InstanceId);
        Assert.NotNull(running.Pid);

        Assert.Equal(VmState.Paused, (await client.PauseVmAsync("web-1")).State);
        Assert.Equal(VmState.Running, (await client.ResumeVmAsync("web-1")).State);
        var rebooted = await client.RebootVmAsync("web-1");
        Assert.Equal(VmState.Running, rebooted.State);
        Assert.Equal("rebooted", rebooted.History[^1].Reason);

        var stopped = await client.StopVmAsync("web-1");
        Assert.Equal(VmState.Stopped, stopped.State);
        Assert.Null(stopped.Pid);

        Assert.Equal(
            [VmState.Starting, VmState.Running, VmState.Paused, VmState.Running, VmState.Running, VmState.Stopping, VmState.Stopped],
            stopped.History.Select(h => h.To).TakeLast(7));

        await client.DeleteVmAsync("web-1");
        var gone = await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync("web-1"));
        Assert.Equal(ErrorCodes.NotFound, gone.Code);
        Assert.Empty(await client.ListVmsAsync());
        var host = await client.GetHostAsync("host-a");
        Assert.Equal(Resources.Zero, host.Allocated);
        Assert.Empty(host.Vms);
    }

    [Fact]
    public async Task Illegal_requests_are_conflicts_and_change_nothing()
    {
        var client = _fabric.Client;
        await client.CreateVmAsync(new VmSpec { Name = "db-1", Image = "tiny", MemoryMiB = 64 });

        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => client.PauseVmAsync("db-1"))).Code);
        await client.StartVmAsync("db-1");
        var again = await Assert.ThrowsAsync<FabricException>(() => client.StartVmAsync("db-1"));
        Assert.Equal(ErrorCodes.Conflict, again.Code);
        Assert.Contains("db-1", again.Message, StringComparison.Ordinal);
        Assert.Contains("Running", again.Message, StringComparison.Ordinal);

        var deleteRunning = await Assert.ThrowsAsync<FabricException>(() => client.DeleteVmAsync("db-1"));
        Assert.Equal(ErrorCodes.Conflict, deleteRunning.Code);
        var duplicate = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(new VmSpec { Name = "db-1", Image = "tiny", MemoryMiB = 64 }));
        Assert.Equal(ErrorCodes.Conflict, duplicate.Code);

        Assert.Equal(VmState.Running, (await client.GetVmAsync("db-1")).State);
        await client.StopVmAsync("db-1", new StopOptions { Force = true });
        await client.DeleteVmAsync("db-1");
    }

    [Fact]
    public async Task Crash_of_the_process_is_recorded_as_failed_and_the_vm_can_start_again()
    {
        var client = _fabric.Client;
        await client.CreateVmAsync(new VmSpec { Name = "crashy", Image = "tiny", MemoryMiB = 64 });
        await client.StartVmAsync("crashy");

        _fabric.DriverOf("host-a").Crash("crashy", "simulated crash");
        var failed = await client.WaitForVmAsync("crashy", [VmState.Failed], TimeSpan.FromSeconds(10));
        Assert.Equal(VmState.Failed, failed.State);
        Assert.Equal("simulated crash", failed.Reason);

        Assert.Equal(VmState.Running, (await client.StartVmAsync("crashy")).State);
        await client.StopVmAsync("crashy");
        await client.DeleteVmAsync("crashy");
    }

    [Theory]
    [InlineData("../etc", "name")]
    [InlineData("a,b", "name")]
    [InlineData("UPPER", "name")]
    [InlineData("", "name")]
    public async Task Invalid_names_are_refused_naming_the_field_and_leave_nothing_behind(string name, string field)
    {
        var error = await Assert.ThrowsAsync<FabricException>(() => _fabric.Client.CreateVmAsync(new VmSpec { Name = name, Image = "tiny" }));
        Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
        Assert.StartsWith(field, error.Message, StringComparison.Ordinal);
        Assert.Empty(await _fabric.Client.ListVmsAsync());
    }

    [Fact]
    public async Task Invalid_specs_are_refused_naming_the_field_and_leave_nothing_behind()
    {
        var client = _fabric.Client;
        async Task Refused(VmSpec spec, string field)
        {
            var error = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(spec));
            Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
            Assert.StartsWith(field, error.Message, StringComparison.Ordinal);
        }

        await Refused(new VmSpec { Name = "x1", Image = "nope" }, "image");
        await Refused(new VmSpec { Name = "x2", Image = "tiny", VCpus = 0 }, "vcpus");
        await Refused(new VmSpec { Name = "x3", Image = "tiny", VCpus = 64 }, "vcpus");
        await Refused(new VmSpec { Name = "x4", Image = "tiny", MemoryMiB = 1024 * 1024 }, "memory");
        await Refused(new VmSpec { Name = "x5", Image = "linux", MemoryMiB = 64 }, "memory");
        await Refused(new VmSpec { Name = "x6", Image = "tiny", Placement = new VmPlacement { Host = "host-zz" } }, "placement.host");

        Assert.Empty(await client.ListVmsAsync());
        var host = await client.GetHostAsync("host-a");
        Assert.Equal(Resources.Zero, host.Allocated);
        foreach (var name in new[] { "x1", "x2", "x3", "x4", "x5", "x6" })
        {
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync(name))).Code);
        }
    }

    [Fact]
    public async Task Unknown_vm_is_not_found()
    {
        foreach (var call in new Func<Task>[]
        {
            () => _fabric.Client.GetVmAsync("ghost"),
            () => _fabric.Client.StartVmAsync("ghost"),
            () => _fabric.Client.StopVmAsync("ghost"),
            () => _fabric.Client.DeleteVmAsync("ghost"),
        })
        {
            Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(call)).Code);
        }
    }
}
