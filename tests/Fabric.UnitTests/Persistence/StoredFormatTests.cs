using System.Text.Json;
using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.UnitTests.Persistence;

/// <summary>Stored rows: explicit names, a version, and no silent misreading of what this code does not know.</summary>
public sealed class StoredFormatTests
{
    private static readonly string[] EntryFields = ["v", "vm", "epoch", "instanceId", "vcpus", "memoryMiB", "image", "antiAffinityGroup", "fenced"];

    private static readonly VmReservation Reservation = new()
    {
        Vm = "web-1",
        Epoch = 42,
        Resources = new Resources(2, 256),
        Image = "tiny",
        AntiAffinityGroup = "web",
    };

    [Fact]
    public void LedgerEntry_IsStoredUnderItsOwnNamesWithAVersion()
    {
        var json = StoredFormat.Write(LedgerEntry.From(Reservation) with { Fenced = "superseded" });

        using var document = JsonDocument.Parse(json);
        var names = document.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.All(EntryFields, name => Assert.Contains(name, names));
        Assert.Equal(1, document.RootElement.GetProperty("v").GetInt32());
        Assert.Equal(Reservation, StoredFormat.Read<LedgerEntry>(json, "entry").Reservation);
    }

    [Fact]
    public void ARowOfANewerVersion_IsRefusedSayingSo()
    {
        var json = StoredFormat.Write(LedgerEntry.From(Reservation) with { Version = 2 });

        var error = Assert.Throws<InvalidDataException>(() => StoredFormat.Read<LedgerEntry>(json, "ledger of host 'host-a', vm 'web-1'"));
        Assert.Equal("ledger of host 'host-a', vm 'web-1': stored format version 2 is newer than this silo understands (1); upgrade the silo", error.Message);
    }

    [Fact]
    public void ARowOfAnOlderUnversionedShape_IsRefusedNotMisread()
    {
        // The foundation stored the wire record itself: no epoch, resources nested.
        const string Old = """{"vm":"web-1","resources":{"vCpus":1,"memoryMiB":16},"image":"tiny"}""";

        var error = Assert.Throws<InvalidDataException>(() => StoredFormat.Read<LedgerEntry>(Old, "ledger of host 'host-a', vm 'web-1'"));
        Assert.StartsWith("ledger of host 'host-a', vm 'web-1': not a stored format this silo reads", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CatalogRow_RoundTripsAVm()
    {
        var vm = new VmInfo
        {
            Name = "web-1",
            State = VmState.Running,
            Host = "host-a",
            Epoch = 7,
            VCpus = 1,
            MemoryMiB = 64,
            Image = "tiny",
            Labels = Labels.Require("labels", new Dictionary<string, string> { ["app"] = "web" }),
            Placement = new VmPlacement { Policy = PlacementPolicy.Pack, AntiAffinityGroup = "web" },
            Pid = 1234,
            InstanceId = Guid.NewGuid(),
            Project = "web",
        };

        var back = StoredFormat.Read<CatalogRow>(StoredFormat.Write(CatalogRow.From(vm)), "row").ToInfo();

        Assert.Equivalent(vm, back, strict: true);
    }

    [Fact]
    public void CatalogRow_WrittenBeforeProjects_IsOfTheDefaultProject()
    {
        const string Old = """{"v":1,"name":"web-1","state":"Running","host":"host-a","epoch":7,"vcpus":1,"memoryMiB":64,"image":"tiny"}""";

        Assert.Equal(ProjectInfo.Default, StoredFormat.Read<CatalogRow>(Old, "row").ToInfo().Project);
    }

    [Theory]
    [InlineData(1, 9, 2, 1, true)]
    [InlineData(2, 1, 2, 2, true)]
    [InlineData(2, 2, 2, 2, false)]
    [InlineData(3, 1, 2, 500, false)]
    public void HostSequence_OrdersByIncarnationThenNumber(long incarnation, long number, long laterIncarnation, long laterNumber, bool isEarlier)
    {
        Assert.Equal(isEarlier, new HostSequence(incarnation, number) < new HostSequence(laterIncarnation, laterNumber));
    }
}
