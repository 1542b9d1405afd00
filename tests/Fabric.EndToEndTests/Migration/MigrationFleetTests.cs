using System.Diagnostics;
using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Migration;

/// <summary>Per-host migration limits, host drain, a cut underlay link and a target whose QEMU cannot start.</summary>
[Collection(MigrationCollection.Name)]
public sealed class MigrationFleetTests(MigrationFabric fabric, ITestOutputHelper output)
{
    [Fact]
    public async Task A_host_sends_two_migrations_at_a_time_and_queues_the_third()
    {
        var names = new[] { "queue-1", "queue-2", "queue-3" };
        foreach (var name in names)
        {
            await fabric.RunTinyAsync(name);
        }

        fabric.Hold(MigrationPhase.Transferring);
        try
        {
            await fabric.Client.MigrateVmAsync("queue-1", new MigrationRequest { TargetHost = "host-b" });
            await fabric.Client.MigrateVmAsync("queue-2", new MigrationRequest { TargetHost = "host-b" });
            await fabric.WaitUntilHeldAsync("queue-1", MigrationPhase.Transferring);
            await fabric.WaitUntilHeldAsync("queue-2", MigrationPhase.Transferring);
            var third = await fabric.Client.MigrateVmAsync("queue-3", new MigrationRequest { TargetHost = "host-b" });
            Assert.Equal(MigrationPhase.Queued, third.Phase);
            Assert.Contains("waiting for an outgoing migration slot on host 'host-a'", third.Reason, StringComparison.Ordinal);
            Assert.Equal(MigrationPhase.Queued, (await fabric.Client.GetVmAsync("queue-3")).Migration);
        }
        finally
        {
            fabric.Release();
        }

        foreach (var name in names)
        {
            var end = await fabric.Client.WaitForMigrationAsync(name);
            Assert.True(end.Phase == MigrationPhase.Succeeded, $"{name}: {end.Phase}: {end.Reason}");
        }

        await fabric.Scenario.AssertInvariantsAsync();
        foreach (var name in names)
        {
            await fabric.Client.DeleteVmAsync(name, new DeleteOptions { Force = true });
        }
    }

    [Fact]
    public async Task Drain_moves_every_vm_off_the_host_and_leaves_it_cordoned_and_empty_until_uncordoned()
    {
        var names = new[] { "drain-1", "drain-2", "drain-3" };
        var boots = new Dictionary<string, string>();
        foreach (var name in names)
        {
            boots[name] = (await fabric.RunTinyAsync(name)).Boot;
        }

        var progress = new List<int>();
        var results = await fabric.Client.DrainHostAsync("host-a", new Progress<Client.DrainProgress>(p => progress.Add(p.Done)));
        foreach (var result in results)
        {
            output.WriteLine($"{result.Vm}: moved {result.Moved} to {result.Migration?.To} in {result.Migration?.TotalMs} ms, guest pause {result.Migration?.GuestPauseMs} ms {result.Reason}");
        }

        var host = await fabric.Client.GetHostAsync("host-a");
        Assert.Equal(HostState.Cordoned, host.State);
        Assert.All(names, name => Assert.Contains(results, r => r.Vm == name && r.Moved && r.Migration!.To is "host-b" or "host-c"));
        Assert.DoesNotContain(host.Vms, names.Contains);
        foreach (var name in names)
        {
            Assert.NotEqual("host-a", (await fabric.Client.GetVmAsync(name)).Host);
            await fabric.AssertTicksAsync(name, boots[name]);
        }

        await fabric.Scenario.AssertInvariantsAsync();
        Assert.Equal(HostState.Ready, (await fabric.Client.UncordonHostAsync("host-a")).State);
        foreach (var name in names)
        {
            await fabric.Client.DeleteVmAsync(name, new DeleteOptions { Force = true });
        }
    }

    [Fact]
    public async Task A_vm_that_can_go_nowhere_is_reported_by_the_drain_and_left_running()
    {
        await fabric.EnsureAllSilosAsync();
        await fabric.Client.CordonHostAsync("host-c");
        foreach (var (name, host) in new[] { ("anchor", "host-b"), ("stuck", "host-a") })
        {
            await fabric.Client.CreateVmAsync(ControlPlane.FaultScenario.Tiny(name, host) with { Placement = new VmPlacement { Host = host, AntiAffinityGroup = "pair" } });
            await fabric.Client.StartVmAsync(name);
        }

        try
        {
            var results = await fabric.Client.DrainHostAsync("host-a");
            var stuck = Assert.Single(results, r => r.Vm == "stuck");
            output.WriteLine($"stuck: {stuck.Reason}");
            Assert.False(stuck.Moved);
            Assert.Contains("anti-affinity group 'pair'", stuck.Reason, StringComparison.Ordinal);
            var vm = await fabric.Client.GetVmAsync("stuck");
            Assert.Equal((VmState.Running, "host-a"), (vm.State, vm.Host));
            await fabric.Scenario.AssertInvariantsAsync();
        }
        finally
        {
            await fabric.Client.UncordonHostAsync("host-a");
            await fabric.Client.UncordonHostAsync("host-c");
            foreach (var name in new[] { "anchor", "stuck" })
            {
                await fabric.Client.DeleteVmAsync(name, new DeleteOptions { Force = true });
            }
        }
    }

    [Fact]
    public async Task A_cut_underlay_link_to_the_target_ends_the_migration_on_the_source_and_the_target_is_fenced_when_it_returns()
    {
        if (fabric.Environment.Underlay is not { } underlay)
        {
            output.WriteLine("hosts share the loopback here (not root): there is no link to cut");
            return;
        }

        await fabric.EnsureAllSilosAsync();
        await fabric.Client.CreateVmAsync(new VmSpec { Name = "cut", Image = "linux", MemoryMiB = 256, Placement = new VmPlacement { Host = "host-a" } });
        var before = await fabric.Client.StartVmAsync("cut");
        var console = new VmConsole(fabric.Client, "cut");
        var boot = await console.WaitForReadyAsync(TimeSpan.FromSeconds(120));

        // Slow enough to be cut mid-stream: about 95 MB at 4 MiB/s.
        await fabric.Client.MigrateVmAsync("cut", new MigrationRequest { TargetHost = "host-b", BandwidthBytesPerSecond = 4L << 20 });
        var info = await fabric.Client.GetMigrationAsync("cut");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(info.Phase == MigrationPhase.Transferring && info.TransferredBytes > 0) && DateTime.UtcNow < deadline)
        {
            info = await fabric.Client.WaitForMigrationChangeAsync("cut", info.Version);
        }

        Assert.Equal(MigrationPhase.Transferring, info.Phase);
        // The link stays down for 25 s: long enough for the budget (20 s) or the membership to end the migration; grains
        // that lived on host-b are out of reach meanwhile, as in any partition.
        var link = Stopwatch.StartNew();
        await RunAsync("ip", "netns", "exec", underlay.NamespaceOf("host-b"), "ip", "link", "set", "eth0", "down");
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(25));
        }
        finally
        {
            await RunAsync("ip", "netns", "exec", underlay.NamespaceOf("host-b"), "ip", "link", "set", "eth0", "up");
        }

        // The target's silo is restarted (see RestartAfterPartitionAsync); then the migration is over.
        await fabric.RestartAfterPartitionAsync("host-b");
        var end = await fabric.Client.WaitForMigrationAsync("cut");
        output.WriteLine($"link cut after {info.TransferredBytes} bytes; migration {end.Phase} {link.ElapsedMilliseconds} ms later: {end.Reason}");
        Assert.Equal(MigrationPhase.Failed, end.Phase);
        Assert.False(string.IsNullOrEmpty(end.Reason));
        var vm = await fabric.Client.WaitForVmAsync("cut", [VmState.Running], TimeSpan.FromSeconds(30));
        Assert.Equal((VmState.Running, "host-a", before.Pid), (vm.State, vm.Host, vm.Pid));
        await fabric.AssertTicksAsync("cut", boot);
        await fabric.Scenario.AssertInvariantsAsync();
        Assert.Single(fabric.Scenario.QemuOf("cut"));
        await fabric.Client.DeleteVmAsync("cut", new DeleteOptions { Force = true });
    }

    [Fact]
    public async Task A_target_whose_qemu_cannot_start_fails_the_migration_and_the_vm_stays_on_its_source()
    {
        var (before, boot) = await fabric.RunTinyAsync("nostart");
        var wrapper = Path.Combine(fabric.Environment.Directory, "qemu-without-incoming");
        await File.WriteAllTextAsync(wrapper, """
            #!/bin/sh
            # A QEMU that boots guests but cannot start as a migration target (a test stand-in for a broken host).
            for argument in "$@"; do
                if [ "$argument" = "-incoming" ]; then
                    echo "qemu-system-x86_64: -incoming defer: this host's QEMU cannot start (test wrapper)" >&2
                    exit 1
                fi
            done
            exec qemu-system-x86_64 "$@"
            """);
        // QEMU runs as a VM's uid in group fabric-qemu (docs/confinement.md): the wrapper must be readable and executable by that group.
        Fabric.Hypervisor.Confinement.Ownership.Set(wrapper, 0, Fabric.Hypervisor.Confinement.QemuGroup.Resolve(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        var settings = new Dictionary<string, string>(fabric.Settings) { ["Fabric__QemuBinary"] = wrapper };
        await fabric.Environment.StartSiloAsync("host-d", settings);
        try
        {
            await fabric.Scenario.WaitUntilAsync("host-d", HostState.Ready);
            await fabric.Client.MigrateVmAsync("nostart", new MigrationRequest { TargetHost = "host-d" });
            var end = await fabric.Client.WaitForMigrationAsync("nostart");
            output.WriteLine($"{end.Phase}: {end.Reason}");
            Assert.Equal(MigrationPhase.Failed, end.Phase);
            Assert.Contains("could not start the incoming VM", end.Reason, StringComparison.Ordinal);
            Assert.Contains("cannot start (test wrapper)", end.Reason, StringComparison.Ordinal);
            var vm = await fabric.Client.GetVmAsync("nostart");
            Assert.Equal((VmState.Running, "host-a", before.Pid), (vm.State, vm.Host, vm.Pid));
            await fabric.AssertTicksAsync("nostart", boot);
            await fabric.Scenario.AssertInvariantsAsync();
        }
        finally
        {
            await fabric.Environment.StopSiloAsync("host-d");
        }
    }

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
    }
}
