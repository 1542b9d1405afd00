using System.Collections.Immutable;
using System.Text.Json;
using Fabric.Contracts;
using Fabric.Grains.Vm;

namespace Fabric.UnitTests.Vm;

/// <summary>The rules of a VM's list of snapshots: names, duplicates, the bound of 32, the host a snapshot lives on.</summary>
public sealed class VmSnapshotsTests
{
    private static SnapshotRow Row(string name, string host = "host-a") => new()
    {
        Name = name,
        Host = host,
        CreatedAt = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero),
        SizeBytes = 94_000_000,
        GuestPauseMs = 3,
        TotalMs = 2800,
        WasRunning = true,
        MemoryMiB = 256,
        Method = "background-snapshot",
    };

    private static ImmutableArray<SnapshotRow> Rows(int count) => [.. Enumerable.Range(1, count).Select(i => Row($"s{i}"))];

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("Nightly")]
    [InlineData("snap.state")]
    [InlineData("-leading")]
    [InlineData("x\n")]
    public void RequireNew_RefusesABadName_NamingTheSnapshotField(string? name)
    {
        var error = Assert.Throws<FabricException>(() => VmSnapshots.RequireNew("web-1", [], name));
        Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
        Assert.StartsWith("snapshot: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RequireNew_RefusesANameTooLong()
    {
        var error = Assert.Throws<FabricException>(() => VmSnapshots.RequireNew("web-1", [], new string('a', 64)));
        Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
        Assert.StartsWith("snapshot: is 64 characters long", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RequireNew_AcceptsAValidName()
    {
        Assert.Equal("before-upgrade-2", VmSnapshots.RequireNew("web-1", Rows(3), "before-upgrade-2"));
    }

    [Fact]
    public void RequireNew_RefusesADuplicate_NamingItsHost()
    {
        var error = Assert.Throws<FabricException>(() => VmSnapshots.RequireNew("web-1", Rows(3), "s2"));
        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.StartsWith("vm 'web-1' already has a snapshot 's2' (taken on host 'host-a'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RequireNew_RefusesThe33rd_AndAcceptsThe32nd()
    {
        Assert.Equal(32, SnapshotLimits.MaxPerVm);
        Assert.Equal("s32", VmSnapshots.RequireNew("web-1", Rows(31), "s32"));

        var error = Assert.Throws<FabricException>(() => VmSnapshots.RequireNew("web-1", Rows(32), "s33"));
        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Equal("vm 'web-1' has 32 snapshots, the most it may keep (32); delete one first ('vm snapshot delete web-1 SNAPSHOT')", error.Message);
    }

    [Fact]
    public void Add_KeepsTheOrderAndRefusesWhatRequireNewRefuses()
    {
        var list = VmSnapshots.Add(Rows(2), Row("s3"));
        Assert.Equal(["s1", "s2", "s3"], list.Select(s => s.Name));
        Assert.Throws<InvalidOperationException>(() => VmSnapshots.Add(list, Row("s1")));
        Assert.Throws<InvalidOperationException>(() => VmSnapshots.Add(Rows(32), Row("s33")));
    }

    [Fact]
    public void Remove_TakesOnlyThatSnapshot()
    {
        Assert.Equal(["s1", "s3"], VmSnapshots.Remove(Rows(3), "s2").Select(s => s.Name));
        Assert.Equal(3, VmSnapshots.Remove(Rows(3), "s9").Length);
    }

    [Fact]
    public void Require_FindsASnapshot_OrSaysWhichDoesNotExist()
    {
        Assert.Equal("s2", VmSnapshots.Require("web-1", Rows(3), "s2").Name);

        var missing = Assert.Throws<FabricException>(() => VmSnapshots.Require("web-1", Rows(3), "s9"));
        Assert.Equal(ErrorCodes.NotFound, missing.Code);
        Assert.Equal("snapshot 's9' of vm 'web-1' does not exist", missing.Message);

        var bad = Assert.Throws<FabricException>(() => VmSnapshots.Require("web-1", Rows(3), "S9"));
        Assert.Equal(ErrorCodes.InvalidSpec, bad.Code);
    }

    [Fact]
    public void RequireSameHost_RefusesAnotherHost_NamingBoth()
    {
        VmSnapshots.RequireSameHost("web-1", Row("s1", "host-a"), "host-a");

        var moved = Assert.Throws<FabricException>(() => VmSnapshots.RequireSameHost("web-1", Row("s1", "host-a"), "host-b"));
        Assert.Equal(ErrorCodes.Conflict, moved.Code);
        Assert.Contains("is on host 'host-a'", moved.Message, StringComparison.Ordinal);
        Assert.Contains("is placed on host 'host-b' now", moved.Message, StringComparison.Ordinal);

        var nowhere = Assert.Throws<FabricException>(() => VmSnapshots.RequireSameHost("web-1", Row("s1", "host-a"), ""));
        Assert.Contains("is placed on no host", nowhere.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Record_StoresSnapshotsUnderTheirOwnNames_AndAnOlderRecordReadsWithNone()
    {
        var record = new VmRecord { State = VmState.Running, Host = "host-a", Snapshots = [Row("s1")] };
        var json = JsonSerializer.Serialize(record);
        using (var document = JsonDocument.Parse(json))
        {
            var stored = document.RootElement.GetProperty("snapshots")[0];
            Assert.Equal(
                ["name", "host", "createdAt", "sizeBytes", "guestPauseMs", "totalMs", "wasRunning", "memoryMiB", "method"],
                stored.EnumerateObject().Select(p => p.Name));
        }

        var back = JsonSerializer.Deserialize<VmRecord>(json)!;
        Assert.True(record.Snapshots.SequenceEqual(back.Snapshots), "the snapshots did not round-trip");

        var older = JsonSerializer.Deserialize<VmRecord>("""{"v":1,"state":"Stopped","host":"host-a","epoch":3}""")!;
        Assert.False(older.Snapshots.IsDefault);
        Assert.Empty(older.Snapshots);

        var copy = record.Copy();
        copy.Snapshots = VmSnapshots.Remove(copy.Snapshots, "s1");
        Assert.Single(record.Snapshots);
    }

    [Fact]
    public void Info_CarriesEveryField()
    {
        var info = Row("s1").ToInfo("web-1");
        Assert.Equal(("s1", "web-1", "host-a", 94_000_000L, 3L, 2800L, true, 256, "background-snapshot"), (info.Name, info.Vm, info.Host, info.SizeBytes, info.GuestPauseMs, info.TotalMs, info.WasRunning, info.MemoryMiB, info.Method));
    }
}
