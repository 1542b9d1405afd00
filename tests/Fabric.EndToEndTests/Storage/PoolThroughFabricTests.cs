using Fabric.Contracts;
using Fabric.EndToEndTests.Migration;

namespace Fabric.EndToEndTests.Storage;

/// <summary>
/// Pools, volumes and images through real silos in their namespaces, with real qemu-img: thin accounting measured from
/// the files, linked clones checked with <c>qemu-img info</c>, the overcommit limit under concurrent creates, a full
/// file system, and hostile inputs. Each test ends with the fabric's invariant check (disks = pools = files).
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class PoolThroughFabricTests(MigrationFabric fabric)
{
    private const long MiB = 1 << 20;

    /// <summary>A pool's directory in the environment's; its parent exists, as an operator's mount point would.</summary>
    private string PoolDirectory(string name) => Path.Combine(Directory.CreateDirectory(Path.Combine(fabric.Environment.Directory, "pools")).FullName, name);

    [Fact]
    public async Task SharedPool_CountsVirtualSizesAndMeasuresFiles_ClonesLinkedOrFull_AndRefusesPastItsLimit()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        var path = PoolDirectory("thin");
        var pool = await client.CreatePoolAsync(new PoolSpec { Name = "thin", Type = PoolType.Shared, Path = path, CapacityBytes = 1L << 30, Overcommit = 2 });
        Assert.Equal(2L << 30, pool.LimitBytes);
        Assert.Equal(0, pool.AllocatedBytes);

        // Thin: a 1 GiB volume is counted whole and occupies almost nothing.
        var empty = await client.CreateVolumeAsync("thin", new VolumeSpec { Name = "empty", SizeBytes = 1L << 30 });
        Assert.Equal(1L << 30, empty.SizeBytes);
        Assert.InRange(empty.PhysicalBytes!.Value, 1, MiB);
        var info = await StorageTools.InfoAsync(Path.Combine(path, "volumes", "empty.qcow2"), "qcow2");
        Assert.Equal(1L << 30, info.GetProperty("virtual-size").GetInt64());

        // Data written into it shows in the pool's measured use, not in its allocation.
        await StorageTools.WriteIntoAsync(Path.Combine(path, "volumes", "empty.qcow2"), 8 * MiB);
        pool = await client.GetPoolAsync("thin");
        Assert.Equal(1L << 30, pool.AllocatedBytes);
        Assert.InRange(pool.UsedBytes, 8 * MiB, 10 * MiB);
        Assert.InRange((await client.GetVolumeAsync("thin", "empty")).PhysicalBytes!.Value, 8 * MiB, 10 * MiB);

        // An image, probed once and pinned raw; a linked clone of it and a full copy.
        var source = StorageTools.RawFile(Path.Combine(fabric.Environment.Directory, "base.img"), 4 * MiB, 64 * MiB);
        var image = await client.ImportImageAsync("thin", "base", source);
        Assert.Equal("raw", image.Format);
        Assert.Equal(64 * MiB, image.VirtualBytes);
        var linked = await client.CreateVolumeAsync("thin", new VolumeSpec { Name = "linked", Image = "base" });
        var clone = await StorageTools.InfoAsync(Path.Combine(path, "volumes", "linked.qcow2"), "qcow2");
        Assert.Equal(Path.Combine(path, "images", "base.raw"), clone.GetProperty("backing-filename").GetString());
        Assert.Equal("raw", clone.GetProperty("backing-filename-format").GetString());
        Assert.Equal("linked", linked.Provisioning);
        Assert.InRange(linked.PhysicalBytes!.Value, 1, MiB);
        var full = await client.CreateVolumeAsync("thin", new VolumeSpec { Name = "full", Image = "base", Full = true, SizeBytes = 128 * MiB });
        var copy = await StorageTools.InfoAsync(Path.Combine(path, "volumes", "full.qcow2"), "qcow2");
        Assert.False(copy.TryGetProperty("backing-filename", out _), "a full copy has no backing file");
        Assert.Equal(128 * MiB, copy.GetProperty("virtual-size").GetInt64());
        Assert.InRange(full.PhysicalBytes!.Value, 4 * MiB, 6 * MiB);
        Assert.True(await StorageTools.SameContentsAsync(source, "raw", Path.Combine(path, "volumes", "linked.qcow2"), "qcow2"));

        // The base is root:fabric-qemu 0640 (every QEMU may read it, nobody else), the clone root 0600 until given to a
        // VM: a VM on the linked clone starts, its unprivileged QEMU opening the backing file through the pool's 0710 folders.
        var group = Fabric.Hypervisor.Confinement.QemuGroup.Resolve();
        Assert.Equal((0, group, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead), Fabric.Hypervisor.Confinement.Ownership.Of(Path.Combine(path, "images", "base.raw")));
        Assert.Equal((0, 0, UnixFileMode.UserRead | UnixFileMode.UserWrite), Fabric.Hypervisor.Confinement.Ownership.Of(Path.Combine(path, "volumes", "linked.qcow2")));
        foreach (var folder in new[] { path, Path.Combine(path, "volumes"), Path.Combine(path, "images") })
        {
            Assert.Equal((0, group, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute), Fabric.Hypervisor.Confinement.Ownership.Of(folder));
        }

        await client.CreateVmAsync(new VmSpec { Name = "on-linked", Image = "tiny", MemoryMiB = 16, Disks = [DiskRequest.Parse("disk", "thin/linked")] });
        Assert.Equal(VmState.Running, (await client.StartVmAsync("on-linked")).State);
        await client.StopVmAsync("on-linked", new StopOptions { Force = true });
        await client.DeleteVmAsync("on-linked");

        // Past capacity × overcommit: refused, nothing made, nothing counted.
        pool = await client.GetPoolAsync("thin");
        var refused = await Assert.ThrowsAsync<FabricException>(() => client.CreateVolumeAsync("thin", new VolumeSpec { Name = "toobig", SizeBytes = pool.LimitBytes - pool.AllocatedBytes + MiB }));
        Assert.Equal(ErrorCodes.InsufficientCapacity, refused.Code);
        Assert.Contains("toobig", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(path, "volumes", "toobig.qcow2")));
        Assert.Equal(pool.AllocatedBytes, (await client.GetPoolAsync("thin")).AllocatedBytes);

        // What depends on what: the image while a linked clone lives, the pool while it holds anything.
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => client.DeleteImageAsync("thin", "base"))).Code);
        Assert.Equal(ErrorCodes.Conflict, (await Assert.ThrowsAsync<FabricException>(() => client.DeletePoolAsync("thin"))).Code);
        var grown = await client.ResizeVolumeAsync("thin", "empty", 1536 * MiB);
        Assert.Equal(1536 * MiB, (await StorageTools.InfoAsync(Path.Combine(path, "volumes", "empty.qcow2"), "qcow2")).GetProperty("virtual-size").GetInt64());
        Assert.Equal(1536 * MiB, grown.SizeBytes);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => client.ResizeVolumeAsync("thin", "empty", MiB))).Code);

        foreach (var volume in new[] { "empty", "linked", "full" })
        {
            await client.DeleteVolumeAsync("thin", volume);
        }

        await client.DeleteImageAsync("thin", "base");
        Assert.Equal(0, (await client.GetPoolAsync("thin")).AllocatedBytes);
        await fabric.Scenario.AssertInvariantsAsync();
        await client.DeletePoolAsync("thin");
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetPoolAsync("thin"))).Code);
        Assert.DoesNotContain(await client.ListPoolsAsync(), p => p.Name == "thin");
    }

    [Fact]
    public async Task ConcurrentCreates_NearTheLimit_NeverOvershoot()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        const int Room = 10;
        const int Asked = 24;
        await client.CreatePoolAsync(new PoolSpec { Name = "race", Type = PoolType.Shared, Path = PoolDirectory("race"), CapacityBytes = Room * 64 * MiB });

        var attempts = Enumerable.Range(0, Asked).Select(async i =>
        {
            try
            {
                await client.CreateVolumeAsync("race", new VolumeSpec { Name = $"v{i}", SizeBytes = 64 * MiB });
                return (string?)null;
            }
            catch (FabricException ex)
            {
                return ex.Code;
            }
        }).ToList();
        var outcomes = await Task.WhenAll(attempts);

        Assert.Equal(Room, outcomes.Count(o => o is null));
        Assert.All(outcomes.Where(o => o is not null), code => Assert.Equal(ErrorCodes.InsufficientCapacity, code));
        var pool = await client.GetPoolAsync("race");
        Assert.Equal(pool.LimitBytes, pool.AllocatedBytes);
        Assert.Equal(Room, Directory.GetFiles(Path.Combine(PoolDirectory("race"), "volumes")).Length);
        await fabric.Scenario.AssertInvariantsAsync();
        foreach (var volume in await client.ListVolumesAsync("race"))
        {
            await client.DeleteVolumeAsync("race", volume.Name);
        }

        await client.DeletePoolAsync("race");
    }

    [Fact]
    public async Task HostileInputs_AreRefusedNamingTheFieldAndLeaveNothing()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        var path = PoolDirectory("guarded");
        await client.CreatePoolAsync(new PoolSpec { Name = "guarded", Type = PoolType.Shared, Path = path, CapacityBytes = 1L << 30 });
        var outside = Path.Combine(fabric.Environment.Directory, "outside");
        Directory.CreateDirectory(outside);

        // A symlink to import, a format other than raw and qcow2, a qcow2 whose backing file leaves the pool.
        var target = StorageTools.RawFile(Path.Combine(outside, "real.img"), MiB, 4 * MiB);
        File.CreateSymbolicLink(Path.Combine(outside, "link.img"), target);
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "vmdk", Path.Combine(outside, "disk.vmdk"), "16M");
        await StorageTools.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", Path.Combine(outside, "escape.qcow2"), "16M");
        foreach (var file in new[] { "link.img", "disk.vmdk", "escape.qcow2" })
        {
            var error = await Assert.ThrowsAsync<FabricException>(() => client.ImportImageAsync("guarded", "bad", Path.Combine(outside, file)));
            Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
        }

        // A volume's file planted as a symlink pointing out of the pool: the create refuses to write through it.
        File.CreateSymbolicLink(Path.Combine(path, "volumes", "planted.qcow2"), Path.Combine(outside, "victim.qcow2"));
        var planted = await Assert.ThrowsAsync<FabricException>(() => client.CreateVolumeAsync("guarded", new VolumeSpec { Name = "planted", SizeBytes = 16 * MiB }));
        Assert.Contains(planted.Code, new[] { ErrorCodes.InvalidSpec, ErrorCodes.Conflict });
        Assert.False(File.Exists(Path.Combine(outside, "victim.qcow2")), "a file was written through the symlink");
        File.Delete(Path.Combine(path, "volumes", "planted.qcow2"));

        // Names and paths that would climb out are refused before anything reaches a host.
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => client.CreateVolumeAsync("guarded", new VolumeSpec { Name = "../x", SizeBytes = MiB }))).Code);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => client.ImportImageAsync("guarded", "x", "relative/base.img"))).Code);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => client.CreatePoolAsync(new PoolSpec { Name = "climb", Type = PoolType.Shared, Path = path + "/../../etc" }))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.CreateVolumeAsync("guarded", new VolumeSpec { Name = "x", Image = "nothing" }))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVolumeAsync("nopool", "x"))).Code);

        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(path, "volumes")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(path, "images")));
        Assert.Equal(0, (await client.GetPoolAsync("guarded")).AllocatedBytes);
        await fabric.Scenario.AssertInvariantsAsync();
        await client.DeletePoolAsync("guarded");
    }

    [Fact]
    public async Task QuotaPerVm_RefusesWhatWouldTakeAVmPastItsShare_AndLeavesNothing()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        var path = PoolDirectory("quota");
        await client.CreatePoolAsync(new PoolSpec { Name = "quota", Type = PoolType.Shared, Path = path, CapacityBytes = 1L << 30, QuotaPerVmBytes = 64 * MiB });
        var vm = await client.CreateVmAsync(FaultSpec("quota-1", "quota:48Mi"));
        Assert.Equal(48 * MiB, Assert.Single(vm.Disks).SizeBytes);

        // A second disk of 32 MiB would take the VM to 80 MiB: refused, at create and at attach alike.
        var refused = await Assert.ThrowsAsync<FabricException>(() => client.CreateVmAsync(FaultSpec("quota-2", "quota:48Mi", "quota:32Mi")));
        Assert.Equal(ErrorCodes.InsufficientCapacity, refused.Code);
        Assert.Contains("quota", refused.Message, StringComparison.Ordinal);
        await client.CreateVolumeAsync("quota", new VolumeSpec { Name = "spare", SizeBytes = 32 * MiB });
        Assert.Equal(ErrorCodes.InsufficientCapacity, (await Assert.ThrowsAsync<FabricException>(() => client.AttachVolumeAsync("quota-1", "quota", "spare"))).Code);
        Assert.Equal(ErrorCodes.NotFound, (await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync("quota-2"))).Code);
        Assert.Equal(["quota-1-disk0", "spare"], (await client.ListVolumesAsync("quota")).Select(v => v.Name));
        Assert.Null((await client.GetVolumeAsync("quota", "spare")).AttachedTo);
        await fabric.Scenario.AssertInvariantsAsync();

        await client.DeleteVmAsync("quota-1");
        await client.DeleteVolumeAsync("quota", "spare");
        await client.DeletePoolAsync("quota");
    }

    private static VmSpec FaultSpec(string name, params string[] disks) =>
        ControlPlane.FaultScenario.Tiny(name, "host-a") with { Disks = [.. disks.Select(d => DiskRequest.Parse("disk", d))] };

    [MountFact]
    public async Task FullPool_GivesAClearErrorAndNoHalfMadeFile()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        // The file system is the pool's mount point, the pool a directory in it.
        await using var disk = await Tmpfs.MountAsync(PoolDirectory("small-fs"), 16);
        var path = Path.Combine(disk.Path, "pool");
        var pool = await client.CreatePoolAsync(new PoolSpec { Name = "small", Type = PoolType.Shared, Path = path, Overcommit = 100 });
        Assert.Equal(16 * MiB, pool.CapacityBytes);

        // 32 MiB of data cannot be imported into 16 MiB: refused whole, before or while copying.
        var big = StorageTools.RawFile(Path.Combine(fabric.Environment.Directory, "big.img"), 32 * MiB, 32 * MiB);
        var error = await Assert.ThrowsAsync<FabricException>(() => client.ImportImageAsync("small", "big", big));
        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);

        // Filled to the last page, even a thin volume has no room for its header.
        disk.Fill("ballast");
        error = await Assert.ThrowsAsync<FabricException>(() => client.CreateVolumeAsync("small", new VolumeSpec { Name = "late", SizeBytes = 64 * MiB }));
        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(path, "volumes")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(path, "images")));
        Assert.Equal(0, (await client.GetPoolAsync("small")).AllocatedBytes);
        File.Delete(Path.Combine(disk.Path, "ballast"));
        await fabric.Scenario.AssertInvariantsAsync();
        await client.DeletePoolAsync("small");
    }
}
