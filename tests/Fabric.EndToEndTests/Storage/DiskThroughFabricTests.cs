using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.Driver;
using Fabric.EndToEndTests.Migration;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Storage;

/// <summary>
/// Disks on VMs through real silos in their namespaces: the <c>linux</c> guest makes a file system on its volume and
/// writes data with a checksum, which must survive a restart, a snapshot's restore (disk and memory back to the same
/// moment) and a live migration; volumes are hot-plugged, grown and unplugged while it runs; a local pool's volume pins
/// its VM to its host. Each test ends with the invariant check (disks = pools = files).
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class DiskThroughFabricTests(MigrationFabric fabric, ITestOutputHelper output)
{
    private const long MiB = 1 << 20;
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(120);

    /// <summary>A pool's directory in the environment's; its parent exists, as an operator's mount point would.</summary>
    private string PoolDirectory(string name) => Path.Combine(Directory.CreateDirectory(Path.Combine(fabric.Environment.Directory, "pools")).FullName, name);

    [Fact]
    public async Task A_guest_filesystem_on_a_shared_pool_volume_survives_restart_restore_and_migration_and_takes_hotplugged_disks()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        const string Vm = "disk-keeper";
        await client.CreatePoolAsync(new PoolSpec { Name = "vmdata", Type = PoolType.Shared, Path = PoolDirectory("vmdata"), CapacityBytes = 4L << 30 });
        var created = await client.CreateVmAsync(new VmSpec
        {
            Name = Vm,
            Image = "linux",
            MemoryMiB = 256,
            Placement = new VmPlacement { Host = "host-a" },
            Disks = [DiskRequest.Parse("disk", "vmdata:64Mi")],
        });
        var disk = Assert.Single(created.Disks);
        Assert.Equal(("vmdata", "disk-keeper-disk0", 64 * MiB, "virtio"), (disk.Pool, disk.Volume, disk.SizeBytes, disk.Bus));
        Assert.Equal(Vm, (await client.GetVolumeAsync("vmdata", disk.Volume)).AttachedTo);

        await client.StartVmAsync(Vm);
        var console = new VmConsole(client, Vm);
        var boot = await console.WaitForReadyAsync(Boot);
        var shell = FabricConsoleLink.Shell(client, Vm);
        await shell.MustAsync("mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt");
        await shell.MustAsync("head -c 1048576 /dev/urandom > /mnt/a && sync");
        var sumA = await shell.Sha256Async("/mnt/a");

        // A restart: a new boot, the same disk.
        await client.StopVmAsync(Vm);
        await client.StartVmAsync(Vm);
        var second = await console.WaitForAsync(GuestConsole.Ready(), m => m.Boot() != boot, Boot);
        boot = second.Boot();
        await shell.MustAsync("mkdir -p /mnt && mount /dev/vda /mnt");
        Assert.Equal(sumA, await shell.Sha256Async("/mnt/a"));

        // A snapshot, then changes, then the restore: the disk and the guest's memory return to the same moment.
        await client.CreateSnapshotAsync(Vm, "before");
        await shell.MustAsync("head -c 65536 /dev/urandom > /mnt/a && echo later > /mnt/b && sync");
        Assert.NotEqual(sumA, await shell.Sha256Async("/mnt/a"));
        await client.RestoreSnapshotAsync(Vm, "before");
        await console.WaitForTickAsync(boot, after: 0);
        Assert.Equal(sumA, await shell.Sha256Async("/mnt/a"));
        Assert.Equal(1, await shell.RunAsync("test -e /mnt/b"));
        await client.DeleteSnapshotAsync(Vm, "before");

        // A live migration: the volume stays where it is, the guest goes on writing to it from host-b.
        await client.MigrateVmAsync(Vm, new MigrationRequest { TargetHost = "host-b" });
        var moved = await client.WaitForMigrationAsync(Vm);
        Assert.Equal(MigrationPhase.Succeeded, moved.Phase);
        output.WriteLine($"migration with a shared-pool disk: {moved.TotalMs} ms, {moved.TransferredBytes} bytes");
        Assert.Equal("host-b", (await client.GetVmAsync(Vm)).Host);
        Assert.Equal(sumA, await shell.Sha256Async("/mnt/a"));
        await shell.MustAsync("echo after-move > /mnt/c && sync && grep -q after-move /mnt/c");
        Assert.Equal(boot, (await console.WaitForAsync(GuestConsole.Tick(), timeout: TimeSpan.FromSeconds(30))).Boot());

        // Hot-plug a second volume: the guest sees a new virtio disk with the volume's name as serial; then unplug it.
        await client.CreateVolumeAsync("vmdata", new VolumeSpec { Name = "extra", SizeBytes = 32 * MiB });
        var attached = await client.AttachVolumeAsync(Vm, "vmdata", "extra");
        Assert.Equal(["disk-keeper-disk0", "extra"], attached.Disks.Select(d => d.Volume));
        await shell.MustAsync("for i in $(seq 50); do [ -e /sys/block/vdb ] && break; sleep 0.1; done; grep -qx extra /sys/block/vdb/serial");
        await shell.MustAsync("mke2fs -q /dev/vdb");
        await client.DetachVolumeAsync(Vm, "vmdata", "extra");
        Assert.Equal(1, await shell.RunAsync("test -e /sys/block/vdb"));
        Assert.Null((await client.GetVolumeAsync("vmdata", "extra")).AttachedTo);

        // Grown while attached: through the VM, live; the guest sees the new size.
        var grown = await client.ResizeVolumeAsync("vmdata", disk.Volume, 128 * MiB);
        Assert.Equal(128 * MiB, grown.SizeBytes);
        Assert.Equal((128 * MiB / 512).ToString(System.Globalization.CultureInfo.InvariantCulture), await shell.ValueAsync("$(cat /sys/block/vda/size)"));
        Assert.Equal(128 * MiB, Assert.Single((await client.GetVmAsync(Vm)).Disks).SizeBytes);

        // Refused while attached; gone with the VM (it was made for it); the operator's volume stays.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => client.DeleteVolumeAsync("vmdata", disk.Volume))).Code);
        await fabric.Scenario.AssertInvariantsAsync();
        await client.StopVmAsync(Vm, new StopOptions { Force = true });
        await client.DeleteVmAsync(Vm);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVolumeAsync("vmdata", disk.Volume))).Code);
        await client.DeleteVolumeAsync("vmdata", "extra");
        await fabric.Scenario.AssertInvariantsAsync();
        await client.DeletePoolAsync("vmdata");
    }

    [Fact]
    public async Task A_local_pool_volume_lives_on_one_host_and_its_vms_are_placed_there()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        var path = Directory.CreateDirectory(PoolDirectory("scratch")).FullName;
        await client.CreatePoolAsync(new PoolSpec { Name = "scratch", Type = PoolType.Local, Path = path, CapacityBytes = 1L << 30 });

        // Made for the VM on the host it was placed on.
        var first = await client.CreateVmAsync(new VmSpec { Name = "local-1", Image = "tiny", MemoryMiB = 16, Placement = new VmPlacement { Host = "host-c" }, Disks = [DiskRequest.Parse("disk", "scratch:16Mi")] });
        var volume = await client.GetVolumeAsync("scratch", "local-1-disk0");
        Assert.Equal("host-c", volume.Host);
        Assert.True(File.Exists(Path.Combine(path, "host-c", "volumes", "local-1-disk0.qcow2")));
        Assert.Equal("host-c", first.Host);

        // An operator's volume on host-b: a VM that uses it is placed there, and nowhere else will do.
        await client.CreateVolumeAsync("scratch", new VolumeSpec { Name = "pinned", SizeBytes = 16 * MiB, Host = "host-b" });
        var second = await client.CreateVmAsync(new VmSpec { Name = "local-2", Image = "tiny", MemoryMiB = 16, Disks = [DiskRequest.Parse("disk", "scratch/pinned")] });
        Assert.Equal("host-b", second.Host);
        var elsewhere = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(new VmSpec
        {
            Name = "local-3",
            Image = "tiny",
            MemoryMiB = 16,
            Placement = new VmPlacement { Host = "host-a" },
            Disks = [DiskRequest.Parse("disk", "scratch:16Mi"), DiskRequest.Parse("disk", "scratch/pinned")],
        }));
        Assert.Contains(elsewhere.Code, new[] { ErrorCodes.Conflict, ErrorCodes.InsufficientCapacity });
        Assert.False(File.Exists(Path.Combine(path, "host-a", "volumes", "local-3-disk0.qcow2")), "a refused create left a volume behind");

        // One VM per volume; a running VM with a local disk boots with it.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => client.AttachVolumeAsync("local-1", "scratch", "pinned"))).Code);
        await client.StartVmAsync("local-2");
        await new VmConsole(client, "local-2").WaitForReadyAsync();
        await fabric.Scenario.AssertInvariantsAsync();

        await client.StopVmAsync("local-2", new StopOptions { Force = true });
        await client.DeleteVmAsync("local-2");
        await client.DeleteVmAsync("local-1");
        Assert.Null((await client.GetVolumeAsync("scratch", "pinned")).AttachedTo);
        Assert.False(File.Exists(Path.Combine(path, "host-c", "volumes", "local-1-disk0.qcow2")));
        await client.DeleteVolumeAsync("scratch", "pinned");
        await fabric.Scenario.AssertInvariantsAsync();
        await client.DeletePoolAsync("scratch");
    }
}
