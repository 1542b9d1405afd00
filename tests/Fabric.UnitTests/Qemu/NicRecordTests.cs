using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class NicRecordTests : IDisposable
{
    private static readonly NicSpec Front = new(0, "tf0a1b2c3", "52:54:00:12:34:56", 1500);
    private static readonly NicSpec Back = new(2, "tf0a1b2c4", "02:00:0a:00:00:07", 1400);

    private readonly string _directory = Directory.CreateTempSubdirectory("fabric-nics-").FullName;

    private string File => Path.Combine(_directory, "nics.json");

    [Fact]
    public void Read_GivesBackTheNicsOfThatProcessBySlot()
    {
        var instance = Guid.NewGuid();
        new NicRecord(instance, [Back, Front]).Write(File);

        Assert.Equal<NicSpec>([Front, Back], NicRecord.Read(File, instance));
        Assert.False(System.IO.File.Exists(File + ".tmp"));
    }

    [Fact]
    public void Read_IgnoresAnotherProcesssListAMissingFileAndGarbage()
    {
        new NicRecord(Guid.NewGuid(), [Front]).Write(File);
        Assert.Empty(NicRecord.Read(File, Guid.NewGuid()));

        Assert.Empty(NicRecord.Read(Path.Combine(_directory, "absent.json"), Guid.NewGuid()));

        System.IO.File.WriteAllText(File, "{ not json");
        Assert.Empty(NicRecord.Read(File, Guid.NewGuid()));
    }

    [Fact]
    public void Write_StoresItsOwnShape()
    {
        var instance = Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01");
        new NicRecord(instance, [Back]).Write(File);

        // The stored row, not NicSpec's computed names: a change there must not change the file.
        var text = System.IO.File.ReadAllText(File);
        Assert.Contains("\"instanceId\": \"0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01\"", text, StringComparison.Ordinal);
        Assert.Contains("\"tap\": \"tf0a1b2c4\"", text, StringComparison.Ordinal);
        Assert.Contains("\"mtu\": 1400", text, StringComparison.Ordinal);
        Assert.DoesNotContain("netdevId", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pciSlot", text, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
