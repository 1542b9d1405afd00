using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class DiskRecordTests : IDisposable
{
    private static readonly DiskSpec Root = new(0, "/pools/p1/volumes/root.qcow2", "qcow2", "root");
    private static readonly DiskSpec Logs = new(3, "/pools/p1/volumes/logs.qcow2", "qcow2", "logs");

    private readonly string _directory = Directory.CreateTempSubdirectory("fabric-disks-").FullName;

    private string File => Path.Combine(_directory, "disks.json");

    [Fact]
    public void Read_GivesBackTheDisksOfThatProcessBySlot()
    {
        var instance = Guid.NewGuid();
        new DiskRecord(instance, [Logs, Root]).Write(File);

        Assert.Equal<DiskSpec>([Root, Logs], DiskRecord.Read(File, instance));
        Assert.False(System.IO.File.Exists(File + ".tmp"));
    }

    [Fact]
    public void Read_IgnoresAnotherProcesssListAMissingFileAndGarbage()
    {
        new DiskRecord(Guid.NewGuid(), [Root]).Write(File);
        Assert.Empty(DiskRecord.Read(File, Guid.NewGuid()));

        Assert.Empty(DiskRecord.Read(Path.Combine(_directory, "absent.json"), Guid.NewGuid()));

        System.IO.File.WriteAllText(File, "{ not json");
        Assert.Empty(DiskRecord.Read(File, Guid.NewGuid()));
    }

    [Fact]
    public void Write_StoresItsOwnShape()
    {
        var instance = Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01");
        new DiskRecord(instance, [Root]).Write(File);

        // The stored row, not DiskSpec's computed names: a change there must not change the file.
        var text = System.IO.File.ReadAllText(File);
        Assert.Contains("\"instanceId\": \"0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01\"", text, StringComparison.Ordinal);
        Assert.Contains("\"serial\": \"root\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("nodeName", text, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
