using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.ControlPlane;
using Fabric.EndToEndTests.Driver;
using Fabric.EndToEndTests.Migration;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Storage;

/// <summary>
/// Live migration of VMs whose disks live in a local pool: the disk is mirrored to the target inside the migration's
/// state machine. A guest writing to its disk all through the move keeps every byte; a cancel or a killed target during
/// the mirror leaves the VM running on its source, its volume there, and no copy left or counted on the target. Each
/// case ends with the invariant check (disks = pools = files included).
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class DiskMigrationTests(MigrationFabric fabric, ITestOutputHelper output)
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task A_guest_writing_to_its_local_pool_disk_migrates_with_every_byte()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        const string Vm = "mirror-keeper";
        var path = await LocalPoolAsync("mirrored");
        await client.CreateVmAsync(new VmSpec { Name = Vm, Image = "linux", MemoryMiB = 256, Placement = new VmPlacement { Host = "host-a" }, Disks = [DiskRequest.Parse("disk", "mirrored:64Mi")] });
        await client.StartVmAsync(Vm);
        var console = new VmConsole(client, Vm);
        var boot = await console.WaitForReadyAsync(TimeSpan.FromSeconds(120));
        var shell = FabricConsoleLink.Shell(client, Vm);
        await shell.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt && head -c 8388608 /dev/urandom > /mnt/data && sync");
        var sum = await shell.Sha256Async("/mnt/data");

        // A writer that keeps changing the disk while it is mirrored and moved: it appends numbered lines.
        await shell.MustAsync("(n=0; while :; do n=$((n+1)); echo $n >> /mnt/log; sync; sleep 0.1; done) >/dev/null 2>&1 & echo $! > /tmp/writer");
        var allocated = (await client.GetPoolAsync("mirrored")).AllocatedBytes;

        await client.MigrateVmAsync(Vm, new MigrationRequest { TargetHost = "host-b" });
        var moved = await client.WaitForMigrationAsync(Vm);
        output.WriteLine($"migration with a 64 MiB local-pool disk: {moved.Phase} after {moved.TotalMs} ms, {moved.TransferredBytes} bytes of memory, guest pause {moved.GuestPauseMs} ms: {moved.Reason}");
        Assert.Equal(MigrationPhase.Succeeded, moved.Phase);
        Assert.True(moved.Encrypted, "the migration's memory stream was not TLS on both sides");

        var vm = await client.GetVmAsync(Vm);
        Assert.Equal(("host-b", VmState.Running), (vm.Host, vm.State));
        var volume = await client.GetVolumeAsync("mirrored", "mirror-keeper-disk0");
        Assert.Equal("host-b", volume.Host);
        Assert.True(File.Exists(Path.Combine(path, "host-b", "volumes", "mirror-keeper-disk0.qcow2")));
        Assert.False(File.Exists(Path.Combine(path, "host-a", "volumes", "mirror-keeper-disk0.qcow2")), "the source's file outlived the move");
        Assert.Equal(allocated, (await client.GetPoolAsync("mirrored")).AllocatedBytes);

        // The same boot, the same file, and the writer's log has no gap: every line written before, during and after.
        Assert.Equal(boot, (await console.WaitForAsync(GuestConsole.Tick(), timeout: TimeSpan.FromSeconds(30))).Boot());
        Assert.Equal(sum, await shell.Sha256Async("/mnt/data"));
        await shell.MustAsync("kill $(cat /tmp/writer) && sleep 0.3 && sync && last=$(tail -n 1 /mnt/log); [ \"$(seq $last | md5sum)\" = \"$(md5sum < /mnt/log)\" ]");
        await shell.MustAsync("umount /mnt");

        await fabric.Scenario.AssertInvariantsAsync();
        await client.StopVmAsync(Vm, new StopOptions { Force = true });
        await client.DeleteVmAsync(Vm);
        await client.DeletePoolAsync("mirrored");
    }

    [Fact]
    public async Task Cancel_during_the_disk_mirror_leaves_the_vm_and_its_volume_on_the_source_and_no_copy()
    {
        var (path, before) = await RunTinyWithLocalDiskAsync("mcancel");
        var allocated = (await fabric.Client.GetPoolAsync("mcancel-pool")).AllocatedBytes;
        var end = await HeldInMirrorAsync("mcancel", async () =>
        {
            // While the mirror runs the copy is counted, and its file exists on the target.
            Assert.Equal(allocated + (32 * MiB), (await fabric.Client.GetPoolAsync("mcancel-pool")).AllocatedBytes);
            Assert.True(File.Exists(Path.Combine(path, "host-b", "volumes", "mcancel-disk0.qcow2")));
            Assert.Equal(MigrationPhase.Cancelled, (await fabric.Client.CancelMigrationAsync("mcancel")).Phase);
        });

        Assert.Equal(MigrationPhase.Cancelled, end.Phase);
        await AssertStayedOnSourceAsync("mcancel", path, before, allocated);
    }

    [Fact]
    public async Task A_killed_target_during_the_disk_mirror_leaves_the_vm_and_its_volume_on_the_source_and_no_copy()
    {
        var (path, before) = await RunTinyWithLocalDiskAsync("mkill");
        var allocated = (await fabric.Client.GetPoolAsync("mkill-pool")).AllocatedBytes;
        var end = await HeldInMirrorAsync("mkill", () =>
        {
            Processes.Kill(fabric.Environment.QemuPidsOf("host-b").Single(pid => ProcessSweep.IsQemuOf(pid, "mkill")));
            return Task.CompletedTask;
        });

        Assert.Equal(MigrationPhase.Failed, end.Phase);
        await AssertStayedOnSourceAsync("mkill", path, before, allocated);
    }

    private async Task<string> LocalPoolAsync(string name)
    {
        var path = Directory.CreateDirectory(Path.Combine(fabric.Environment.Directory, "pools", name)).FullName;
        await fabric.Client.CreatePoolAsync(new PoolSpec { Name = name, Type = PoolType.Local, Path = path, CapacityBytes = 2L << 30 });
        return path;
    }

    private async Task<(string Path, VmInfo Before)> RunTinyWithLocalDiskAsync(string vm)
    {
        await fabric.EnsureAllSilosAsync();
        var path = await LocalPoolAsync($"{vm}-pool");
        await fabric.Client.CreateVmAsync(FaultScenario.Tiny(vm, "host-a") with { Disks = [DiskRequest.Parse("disk", $"{vm}-pool:32Mi")] });
        var before = await fabric.Client.StartVmAsync(vm);
        await new VmConsole(fabric.Client, vm).WaitForReadyAsync();
        return (path, before);
    }

    /// <summary>Migrates the VM to host-b held in the disk mirror, injects the fault, releases, and follows it to its end.</summary>
    private async Task<MigrationInfo> HeldInMirrorAsync(string vm, Func<Task> fault)
    {
        fabric.Hold(MigrationPhase.MirroringDisks);
        try
        {
            await fabric.Client.MigrateVmAsync(vm, new MigrationRequest { TargetHost = "host-b" });
            await fabric.WaitUntilHeldAsync(vm, MigrationPhase.MirroringDisks);
            await fault();
        }
        finally
        {
            fabric.Release();
        }

        var end = await fabric.Client.WaitForMigrationAsync(vm);
        output.WriteLine($"{vm}: migration {end.Phase} after {end.TotalMs} ms: {end.Reason}");
        return end;
    }

    private async Task AssertStayedOnSourceAsync(string vm, string path, VmInfo before, long allocated)
    {
        var client = fabric.Client;
        var info = await client.WaitForVmAsync(vm, [VmState.Running], TimeSpan.FromSeconds(30));
        Assert.Equal(("host-a", before.Pid), (info.Host, info.Pid));
        Assert.Equal("host-a", (await client.GetVolumeAsync($"{vm}-pool", $"{vm}-disk0")).Host);
        Assert.Equal(allocated, (await client.GetPoolAsync($"{vm}-pool")).AllocatedBytes);
        Assert.False(File.Exists(Path.Combine(path, "host-b", "volumes", $"{vm}-disk0.qcow2")), "the target's copy was left behind");
        Assert.True(File.Exists(Path.Combine(path, "host-a", "volumes", $"{vm}-disk0.qcow2")));
        await fabric.AssertTicksAsync(vm, (await new VmConsole(client, vm).WaitForReadyAsync()));
        await fabric.Scenario.AssertInvariantsAsync();
        await client.StopVmAsync(vm, new StopOptions { Force = true });
        await client.DeleteVmAsync(vm);
        await client.DeletePoolAsync($"{vm}-pool");
    }
}
