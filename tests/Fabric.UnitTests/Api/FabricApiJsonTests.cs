using System.Collections.Immutable;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.UnitTests.Api;

/// <summary>FabricApiJson (types described at compile time) writes and reads exactly the JSON ApiJson (reflection) does.</summary>
public sealed class FabricApiJsonTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 12, 1, 2, TimeSpan.Zero);
    private static readonly ImmutableSortedDictionary<string, string> Labels = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("App.Tier", "front")]);

    public static TheoryData<object> Values => new()
    {
        new VmInfo
        {
            Name = "web-1", State = VmState.Migrating, Host = "host-a", VCpus = 2, MemoryMiB = 256, Image = "linux", Labels = Labels,
            Reason = "moving", Since = At, CreatedAt = At, Pid = 42, InstanceId = Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01"),
            Placement = new VmPlacement { Host = "host-a", Policy = PlacementPolicy.Spread, AntiAffinityGroup = "web", HostSelector = Labels },
            History = [new VmHistoryEntry(At, VmState.Starting, VmState.Running, null)], Epoch = 3, Migration = MigrationPhase.Transferring,
            Disks = [new VmDisk { Pool = "data", Volume = "db", SizeBytes = 1 << 30 }],
            Nics = [new VmNic { Network = "blue", Ip = "10.0.0.5", Mac = "52:54:00:00:00:01" }], Project = "shop",
        },
        new HostInfo
        {
            Name = "host-a", State = HostState.Draining, Capacity = new Resources(8, 4096), Allocated = new Resources(2, 512), VmCount = 2,
            Labels = Labels, Vms = ["web-1"], Sequence = new HostSequence(2, 7), ReportedAt = At, Unmanaged = [new UnmanagedProcess("x", 9, 1, Guid.Empty)],
        },
        new VmSpec
        {
            Name = "web", Image = "tiny", Labels = Labels, Project = "shop",
            Disks = [new DiskRequest { Pool = "data", SizeBytes = 1 << 30, Image = "debian" }], Nics = [new NicRequest { Network = "blue", Ip = "10.0.0.9" }],
        },
        new MigrationInfo { Id = "m1", Vm = "web-1", Phase = MigrationPhase.Succeeded, From = "host-a", To = "host-b", StartedAt = At, DowntimeMs = 13, Version = 9, Request = new MigrationRequest { TargetHost = "host-b", Postcopy = true } },
        new ConsoleChunk([1, 2, 3, 255], 10, 14, Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01")),
        new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = At, Vm = "web-1", From = "Starting", To = "Running", Project = "shop" },
        new IssuedToken { Info = new TokenInfo { Id = "ab12", User = "alice", Project = "shop", Role = Role.Viewer, CreatedAt = At, ExpiresAt = At }, Token = "fabric_ab12_x" },
        new ProjectInfo { Name = "shop", Quota = new ProjectQuota { Vms = 3, MemoryMiB = 1024 }, Usage = new ProjectUsage { Vms = 1, VCpus = 2, MemoryMiB = 128 }, CreatedAt = At },
        new AuditEntry { Id = "1", At = At, User = "alice", TokenId = "ab12", Project = "shop", Action = "vm.start", Target = "vm/web-1", Result = "forbidden", Source = "10.0.0.1" },
        new NetworkInfo { Name = "blue", Cidr = "10.0.0.0/24", Gateway = "10.0.0.1", Dhcp = true, Mtu = 1450, Vni = 4096, Hosts = [new NetworkMember("host-a", "10.213.0.10")], Rules = [new NetworkRule { Id = 1, Protocol = RuleProtocol.Tcp, FromPort = 80, ToPort = 81 }], Ports = [new NetworkPort("web-1", 0, "10.0.0.5", "52:54:00:00:00:01")] },
        new PoolInfo { Name = "data", Type = PoolType.Shared, Path = "/srv/data", CapacityBytes = 10, Overcommit = 1.5, LimitBytes = 15, AllocatedBytes = 2, UsedBytes = 1, Unmeasured = ["host-b"] },
        new VolumeInfo { Pool = "data", Name = "db", SizeBytes = 1 << 30, State = VolumeState.Ready, AttachedTo = "web-1" },
        ImmutableArray.Create(new TokenInfo { Id = "ab12", User = "alice", Project = "shop", Role = Role.Admin }),
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void Serialize_WritesWhatReflectionWrites(object value)
    {
        Assert.Equal(JsonSerializer.Serialize(value, value.GetType(), ApiJson.Compact), JsonSerializer.Serialize(value, value.GetType(), FabricApiJson.Compact));
        Assert.Equal(JsonSerializer.Serialize(value, value.GetType(), ApiJson.Indented), JsonSerializer.Serialize(value, value.GetType(), FabricApiJson.Indented));
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Deserialize_ReadsWhatReflectionReads(object value)
    {
        var json = JsonSerializer.Serialize(value, value.GetType(), ApiJson.Compact);

        var read = JsonSerializer.Deserialize(json, value.GetType(), FabricApiJson.Compact);

        Assert.Equal(json, JsonSerializer.Serialize(read, value.GetType(), ApiJson.Compact));
    }

    [Fact]
    public void AnonymousObjects_StillWork()
    {
        Assert.Equal("{\"name\":\"web-1\",\"deleted\":true}", JsonSerializer.Serialize(new { Name = "web-1", Deleted = true }, FabricApiJson.Compact));
    }
}
