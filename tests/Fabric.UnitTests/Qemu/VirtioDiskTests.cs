using System.Text.Json;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class VirtioDiskTests
{
    private static readonly DiskSpec Data = new(2, "/pools/p1/volumes/data,1.qcow2", "qcow2", "data-1");
    private static readonly DiskSpec Scratch = new(0, "/pools/p1/volumes/scratch.raw", "raw", "scratch");

    [Fact]
    public void Blockdev_NamesTheFormatNodeBySlotOverAFileNode()
    {
        var node = VirtioDisk.Blockdev(Data);

        Assert.Equal("""{"node-name":"disk2","driver":"qcow2","file":{"driver":"file","filename":"/pools/p1/volumes/data,1.qcow2"}}""", node.ToJsonString());
    }

    [Fact]
    public void DeviceOption_PutsTheDiskBehindItsSlotsRootPort()
    {
        var device = QemuOption.Parse(VirtioDisk.DeviceOption(Data));

        Assert.Equal("", device["virtio-blk-pci"]);
        Assert.Equal("disk2-dev", device["id"]);
        Assert.Equal("disk2", device["drive"]);
        Assert.Equal("data-1", device["serial"]);
        Assert.Equal("port-d2", device["bus"]);
        Assert.Equal("0x0", device["addr"]);
        Assert.Equal(6, device.Count);
    }

    [Fact]
    public void DeviceAdd_HasExactlyTheCommandLinesProperties()
    {
        // A hot-plugged disk must be the device a process launched with it has: a migration's target and a snapshot's
        // restore get it on their command line, and their device trees must match the source's.
        var arguments = VirtioDisk.DeviceAdd(Data);
        var option = QemuOption.Parse(VirtioDisk.DeviceOption(Data));

        Assert.Equal("virtio-blk-pci", (string?)arguments["driver"]);
        var properties = arguments.Where(p => p.Key != "driver").ToDictionary(p => p.Key, p => (string?)p.Value);
        Assert.Equal(option.Where(p => p.Key != "virtio-blk-pci").ToDictionary(p => p.Key, p => (string?)p.Value), properties);
    }

    [Fact]
    public void CommandLine_CarriesEveryDiskAsBlockdevAndDevice()
    {
        var spec = new LaunchSpec("web-1", 1, Guid.NewGuid(), 1, 128, "tiny") { Disks = [Data, Scratch] };
        var image = new GuestImage("linux", GuestBoot.Kernel, null, "/images/linux/vmlinuz", null, null, 128, "kernel");

        var args = QemuCommandLine.Build(spec, image, new AcceleratorChoice("tcg", "test"), VmPaths.For("/srv/fabric", "web-1"));

        var blockdevs = args.Select((a, i) => (a, i)).Where(p => p.a == "-blockdev").Select(p => args[p.i + 1]).ToList();
        Assert.Equal([VirtioDisk.Blockdev(Scratch).ToJsonString(), VirtioDisk.Blockdev(Data).ToJsonString()], blockdevs);
        var devices = args.Select((a, i) => (a, i)).Where(p => p.a == "-device").Select(p => args[p.i + 1]).Where(d => !d.StartsWith(PcieRootPorts.Driver, StringComparison.Ordinal)).ToList();
        Assert.Equal([VirtioDisk.DeviceOption(Scratch), VirtioDisk.DeviceOption(Data)], devices);
    }

    [Fact]
    public void SnapshotTransaction_SnapshotsEveryDiskNodeInOneTransaction()
    {
        var transaction = VirtioDisk.SnapshotTransaction([Data, Scratch with { Format = "qcow2" }], "nightly");

        var actions = transaction["actions"]!.AsArray();
        Assert.Equal(2, actions.Count);
        Assert.All(actions, a => Assert.Equal("blockdev-snapshot-internal-sync", (string?)a!["type"]));
        Assert.Equal(["disk0", "disk2"], actions.Select(a => (string?)a!["data"]!["device"]));
        Assert.All(actions, a => Assert.Equal("nightly", (string?)a!["data"]!["name"]));
    }

    [Fact]
    public void BlockNodes_ReadSizeAndSnapshotsOfTheNamedNodes()
    {
        // As QEMU 7.2 answers query-named-block-nodes (flat) for one qcow2 disk with one internal snapshot.
        var nodes = VirtioDisk.BlockNodes(Parse("""
            [{"node-name":"disk0","drv":"qcow2","image":{"virtual-size":67108864,"filename":"/v/a.qcow2","format":"qcow2",
              "snapshots":[{"vm-clock-nsec":460548981,"name":"s1","date-sec":1796001174,"id":"1","vm-state-size":0}]}},
             {"node-name":"#block070","drv":"file","image":{"virtual-size":197120,"filename":"/v/a.qcow2","format":"file"}}]
            """));

        var node = Assert.Single(nodes.Values);
        Assert.Equal(new BlockNode("disk0", "qcow2", 67108864, node.Snapshots), node);
        Assert.Equal<string>(["s1"], node.Snapshots);
    }

    [Fact]
    public void SnapshotNames_ReadQemuImgInfo()
    {
        Assert.Equal<string>(["a", "b"], VirtioDisk.SnapshotNames(Parse("""{"format":"qcow2","snapshots":[{"id":"1","name":"a"},{"id":"2","name":"b"}]}""")));
        Assert.Empty(VirtioDisk.SnapshotNames(Parse("""{"format":"qcow2","virtual-size":1048576}""")));
    }

    [Fact]
    public void QemuImgImageOptions_GiveTheFormatAndEscapeThePath()
    {
        Assert.Equal("driver=qcow2,file.driver=file,file.filename=/pools/p1/volumes/data,,1.qcow2", QemuImgSnapshots.ImageOptions(Data.Path));
    }

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();
}
