using System.Collections.Immutable;
using System.Text.Json;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.UnitTests.Cli;

/// <summary>What programs parse: the field names and value shapes of <c>-o json</c>.</summary>
public sealed class JsonOutputTests
{
    private static readonly VmInfo Vm = new()
    {
        Name = "web-1",
        State = VmState.Running,
        Host = "host-a",
        VCpus = 2,
        MemoryMiB = 256,
        Image = "tiny",
        Labels = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("App.Tier", "front")]),
        Placement = new VmPlacement { Policy = PlacementPolicy.Spread },
    };

    private static readonly HostInfo Host = new()
    {
        Name = "host-a",
        State = HostState.Cordoned,
        Capacity = new Resources(8, 4096),
        Allocated = new Resources(2, 256),
    };

    private static JsonElement Parse<T>(T value) => JsonDocument.Parse(Json.Serialize(value)).RootElement;

    [Fact]
    public void VmInfo_HasTheInterfaceFieldNames()
    {
        var vm = Parse(Vm);

        Assert.Equal("web-1", vm.GetProperty("name").GetString());
        Assert.Equal("Running", vm.GetProperty("state").GetString());
        Assert.Equal("host-a", vm.GetProperty("host").GetString());
        Assert.Equal(2, vm.GetProperty("vcpus").GetInt32());
        Assert.Equal(256, vm.GetProperty("memoryMiB").GetInt32());
        Assert.Equal("tiny", vm.GetProperty("image").GetString());
        Assert.True(vm.GetProperty("reachable").GetBoolean());
        Assert.Equal("Spread", vm.GetProperty("placement").GetProperty("policy").GetString());
        Assert.False(vm.TryGetProperty("vCpus", out _));
        Assert.False(vm.TryGetProperty("VCpus", out _));
    }

    [Fact]
    public void Labels_KeepTheirKeysAsWritten()
    {
        var labels = Parse(Vm).GetProperty("labels");

        Assert.Equal("front", labels.GetProperty("App.Tier").GetString());
    }

    [Fact]
    public void HostInfo_HasCapacityAndAllocatedInVcpusAndMemoryMiB()
    {
        var host = Parse(Host);

        Assert.Equal("host-a", host.GetProperty("name").GetString());
        Assert.Equal("Cordoned", host.GetProperty("state").GetString());
        Assert.Equal(8, host.GetProperty("capacity").GetProperty("vcpus").GetInt32());
        Assert.Equal(4096, host.GetProperty("capacity").GetProperty("memoryMiB").GetInt64());
        Assert.Equal(2, host.GetProperty("allocated").GetProperty("vcpus").GetInt32());
        Assert.Equal(256, host.GetProperty("allocated").GetProperty("memoryMiB").GetInt64());
    }

    [Fact]
    public void BulkResult_HasOneStableShapeForSuccessAndFailure()
    {
        var results = new[]
        {
            BulkResultView.From(new BulkResult("web-1", Vm, null, null)),
            BulkResultView.From(new BulkResult("web-2", null, ErrorCodes.Conflict, "vm 'web-2' is Stopped")),
            BulkResultView.From(new BulkResult("web-3", null, null, null), VmAction.Delete),
        };

        var json = Parse(results);

        string[] fields = ["vm", "ok", "errorCode", "error", "state", "host"];
        foreach (var result in json.EnumerateArray())
        {
            Assert.Equal(fields, result.EnumerateObject().Select(p => p.Name));
        }

        Assert.True(json[0].GetProperty("ok").GetBoolean());
        Assert.Equal("Running", json[0].GetProperty("state").GetString());
        Assert.Equal("host-a", json[0].GetProperty("host").GetString());
        Assert.False(json[1].GetProperty("ok").GetBoolean());
        Assert.Equal("conflict", json[1].GetProperty("errorCode").GetString());
        Assert.Equal(JsonValueKind.Null, json[1].GetProperty("state").ValueKind);
        Assert.Equal("Deleted", json[2].GetProperty("state").GetString());
    }

    [Fact]
    public void FleetEvent_IsOneCompactLineWithKindByName()
    {
        var line = Json.Serialize(new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = DateTimeOffset.UnixEpoch, Vm = "web-1", Host = "host-a", From = "Starting", To = "Running" }, indented: false);

        Assert.DoesNotContain('\n', line);
        var fleetEvent = JsonDocument.Parse(line).RootElement;
        Assert.Equal("VmStateChanged", fleetEvent.GetProperty("kind").GetString());
        Assert.Equal("web-1", fleetEvent.GetProperty("vm").GetString());
    }

    [Theory]
    [InlineData("VCpus", "vcpus")]
    [InlineData("MemoryMiB", "memoryMiB")]
    [InlineData("AntiAffinityGroup", "antiAffinityGroup")]
    [InlineData("Name", "name")]
    public void NamingPolicy_IsCamelCaseButForVcpus(string property, string json)
    {
        Assert.Equal(json, new FabricNamingPolicy().ConvertName(property));
    }

    public static TheoryData<object> PrintedShapes => new()
    {
        new DrainOutcome("host-a", [new DrainResult("web-1", null, false, "not moved: it is Stopped")]),
        new DeletedObject("blue", Deleted: true),
        new DeletedPoolObject("data", "db", Deleted: true),
        VmOutput.DeletedJson("web-1"),
        new ForgottenHost("host-b", Forgotten: true),
        new RemovedRule("blue", 2, Removed: true),
        new Fabric.Cli.Commands.VmCommands.DeletedSnapshot("web-1", "s1", Deleted: true),
        new Fabric.Cli.Commands.AccessCommands.LoggedIn("http://h:1/", "alice", "shop", Role.Admin, null, "/root/.config/fabric/config.json"),
        ImmutableArray.Create(Host),
        ImmutableArray.Create(Vm),
    };

    /// <summary>fabricctl is compiled natively, without reflection: everything it prints must be described at compile time.</summary>
    [Theory]
    [MemberData(nameof(PrintedShapes))]
    public void EveryPrintedShape_IsDescribedAtCompileTime(object value)
    {
        Assert.Equal(Json.Serialize(value), Json.Serialize(value, CompiledOnly));
    }

    [Fact]
    public void ListsPrintedAsTheirInterface_AreDescribedAtCompileTime()
    {
        IReadOnlyList<BulkResultView> bulk = [BulkResultView.From(new BulkResult("web-1", Vm, null, null))];
        IReadOnlyList<ImageInfo> images = [new ImageInfo { Pool = "data", Name = "base", Format = "qcow2", VirtualBytes = 1, PhysicalBytes = 1 }];
        IReadOnlyList<PoolInfo> pools = ImmutableArray<PoolInfo>.Empty;

        Assert.Equal(Json.Serialize(bulk), Json.Serialize(bulk, CompiledOnly));
        Assert.Equal(Json.Serialize(images), Json.Serialize(images, CompiledOnly));
        Assert.Equal("[]", Json.Serialize(pools, CompiledOnly));
    }

    private static JsonSerializerOptions CompiledOnly => new(Json.Indented)
    {
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(CliJsonContext.Default, FabricApiJsonContext.Default),
    };
}
