using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Scheduling;

namespace Fabric.UnitTests.Scheduling;

/// <summary>Placement as a pure function: filter, then score, over hand-built host summaries.</summary>
public sealed class PlacementEngineTests
{
    private static HostInfo Host(string name, int vcpus = 8, long memoryMiB = 8192, int allocatedVCpus = 0, long allocatedMiB = 0, int vms = 0) => new()
    {
        Name = name,
        State = HostState.Ready,
        Capacity = new Resources(vcpus, memoryMiB),
        Allocated = new Resources(allocatedVCpus, allocatedMiB),
        VmCount = vms,
        Images = ["tiny", "linux"],
    };

    private static PlacementRequest Request(int vcpus = 1, long memoryMiB = 128, string image = "tiny", VmPlacement? placement = null, string? antiAffinity = null, string? affinity = null) => new()
    {
        Reservation = new VmReservation
        {
            Vm = "web-1",
            Epoch = 1,
            Resources = new Resources(vcpus, memoryMiB),
            Image = image,
            AntiAffinityGroup = antiAffinity,
            AffinityGroup = affinity,
        },
        Placement = placement ?? VmPlacement.None,
    };

    private static List<HostCandidate> Up(params HostInfo[] hosts) => [.. hosts.Select(h => new HostCandidate(h, true))];

    [Fact]
    public void ExcludedHosts_AreNeverCandidates_AndTheErrorSaysWhy()
    {
        var hosts = Up(Host("host-a"), Host("host-b"));
        var request = Request() with { ExcludedHosts = ["host-a"] };

        Assert.Equal(["host-b"], PlacementEngine.Plan(hosts, request, PlacementPolicy.Spread).Candidates);
        Assert.Equal("the VM's current host", PlacementEngine.Exclusions(hosts, request)["host-a"]);
    }

    [Fact]
    public void AllowedHosts_LimitTheCandidatesToWhereTheStorageIs_AndTheErrorSaysWhy()
    {
        var hosts = Up(Host("host-a"), Host("host-b"), Host("host-c"));
        var request = Request() with { AllowedHosts = new HostConstraint(["host-b"], "volume data/db is on host 'host-b'") };

        Assert.Equal(["host-b"], PlacementEngine.Plan(hosts, request, PlacementPolicy.Spread).Candidates);
        Assert.Equal("not where its storage is (volume data/db is on host 'host-b')", PlacementEngine.Exclusions(hosts, request)["host-a"]);
    }

    [Fact]
    public void AVmWithNics_GoesOnlyWhereNetworksCanBeRealized()
    {
        var hosts = Up(Host("host-a"), Host("host-b") with { Networking = true });
        var request = Request() with { Reservation = Request().Reservation with { Nics = [new NicPlacement(0, "blue", 4096, "10.10.0.2", "02:00:10:00:00:02", 1450, 24)] } };

        Assert.Equal(["host-b"], PlacementEngine.Plan(hosts, request, PlacementPolicy.Spread).Candidates);
        Assert.StartsWith("cannot realize virtual networks", PlacementEngine.Exclusions(hosts, request)["host-a"], StringComparison.Ordinal);
        Assert.Equal(["host-a", "host-b"], PlacementEngine.Plan(hosts, Request(), PlacementPolicy.Spread).Candidates.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void HostConstraints_Intersect()
    {
        var a = new HostConstraint(["host-a", "host-b"], "image");
        var b = new HostConstraint(["host-b", "host-c"], "volume");

        Assert.Equal(["host-b"], HostConstraint.Intersect(a, b)!.Hosts);
        Assert.Same(a, HostConstraint.Intersect(a, null));
        Assert.Null(HostConstraint.Intersect(null, null));
    }

    [Fact]
    public void Spread_PrefersTheLeastLoadedHost_ThenFewerVms_ThenName()
    {
        var hosts = Up(
            Host("host-c", allocatedVCpus: 4),
            Host("host-b", allocatedVCpus: 2, vms: 3),
            Host("host-a", allocatedVCpus: 2, vms: 1),
            Host("host-d", allocatedVCpus: 2, vms: 1));

        var plan = PlacementEngine.Plan(hosts, Request(), PlacementPolicy.Spread);

        Assert.Equal(PlacementPolicy.Spread, plan.Policy);
        Assert.Equal(["host-a", "host-d", "host-b", "host-c"], plan.Candidates);
    }

    [Fact]
    public void Pack_PrefersTheMostLoadedHostThatStillFits()
    {
        var hosts = Up(Host("host-a", allocatedVCpus: 1), Host("host-b", allocatedVCpus: 7), Host("host-c", allocatedVCpus: 8));

        var plan = PlacementEngine.Plan(hosts, Request(placement: new VmPlacement { Policy = PlacementPolicy.Pack }), PlacementPolicy.Spread);

        Assert.Equal(PlacementPolicy.Pack, plan.Policy);
        Assert.Equal(["host-b", "host-a"], plan.Candidates);
    }

    [Fact]
    public void Load_IsTheFullerOfCpuAndMemory()
    {
        var hosts = Up(Host("cpu-heavy", allocatedVCpus: 6), Host("memory-heavy", allocatedMiB: 7000));

        Assert.Equal(["cpu-heavy", "memory-heavy"], PlacementEngine.Plan(hosts, Request(), PlacementPolicy.Spread).Candidates);
    }

    [Fact]
    public void Filters_LeaveOutDownCordonedDrainingUnlabelledAndFullHosts_AndSayWhy()
    {
        var hosts = new List<HostCandidate>
        {
            new(Host("down"), false),
            new(Host("cordoned") with { State = HostState.Cordoned }, true),
            new(Host("draining") with { State = HostState.Draining }, true),
            new(Host("no-linux") with { Images = ["tiny"] }, true),
            new(Host("full", vcpus: 2, allocatedVCpus: 2), true),
            new(Host("hdd") with { Labels = ImmutableSortedDictionary<string, string>.Empty.Add("disk", "hdd") }, true),
            new(Host("ssd") with { Labels = ImmutableSortedDictionary<string, string>.Empty.Add("disk", "ssd") }, true),
        };
        var request = Request(image: "linux", placement: new VmPlacement { HostSelector = ImmutableSortedDictionary<string, string>.Empty.Add("disk", "ssd") });

        Assert.Equal(["ssd"], PlacementEngine.Plan(hosts, request, PlacementPolicy.Spread).Candidates);

        var why = PlacementEngine.Exclusions(hosts, request);
        Assert.Equal("Down", why["down"]);
        Assert.Equal("cordoned", why["cordoned"]);
        Assert.Equal("draining", why["draining"]);
        Assert.Equal("has no image 'linux'", why["no-linux"]);
        Assert.Equal("label disk=ssd not present", why["full"]);
        Assert.Equal("label disk=ssd not present", why["hdd"]);
        Assert.False(why.ContainsKey("ssd"));
    }

    [Fact]
    public void Capacity_AndAntiAffinity_AreExplained()
    {
        var hosts = Up(
            Host("full", vcpus: 2, allocatedVCpus: 2),
            Host("grouped") with { AntiAffinityGroups = ["db"] },
            Host("free"));
        var request = Request(antiAffinity: "db");

        Assert.Equal(["free"], PlacementEngine.Plan(hosts, request, PlacementPolicy.Spread).Candidates);
        var why = PlacementEngine.Exclusions(hosts, request);
        Assert.StartsWith("needs 1 vCPU", why["full"], StringComparison.Ordinal);
        Assert.Equal("anti-affinity group 'db' already has a VM here", why["grouped"]);
    }

    [Fact]
    public void Affinity_FollowsTheGroupOnceItHasMembersOnALiveHost()
    {
        var hosts = Up(Host("empty"), Host("members", allocatedVCpus: 6) with { AffinityGroups = ["web"] });

        Assert.Equal(["members"], PlacementEngine.Plan(hosts, Request(affinity: "web"), PlacementPolicy.Spread).Candidates);
        Assert.Equal("affinity group 'web' runs elsewhere", PlacementEngine.Exclusions(hosts, Request(affinity: "web"))["empty"]);

        // A new group goes wherever the policy says.
        Assert.Equal(["empty", "members"], PlacementEngine.Plan(hosts, Request(affinity: "new"), PlacementPolicy.Spread).Candidates);
    }

    [Fact]
    public void RequestedHost_IsTheOnlyCandidate()
    {
        var hosts = Up(Host("host-a"), Host("host-b"));

        Assert.Equal(["host-b"], PlacementEngine.Plan(hosts, Request(placement: new VmPlacement { Host = "host-b" }), PlacementPolicy.Spread).Candidates);
    }

    [Theory]
    [InlineData("unknown-host", ErrorCodes.InvalidSpec, "placement.host: host 'nowhere' is not in the fabric")]
    [InlineData("unknown-image", ErrorCodes.InvalidSpec, "image: unknown image 'windows'")]
    [InlineData("too-many-vcpus", ErrorCodes.InvalidSpec, "vcpus: 64 vCPU exceeds the capacity of every host")]
    [InlineData("too-much-memory", ErrorCodes.InvalidSpec, "memory: 64Gi exceeds the capacity of every host")]
    public void Requests_NoCapacityWouldCure_AreRefusedAsInvalid(string kind, string code, string message)
    {
        var request = kind switch
        {
            "unknown-host" => Request(placement: new VmPlacement { Host = "nowhere" }),
            "unknown-image" => Request(image: "windows"),
            "too-many-vcpus" => Request(vcpus: 64),
            _ => Request(memoryMiB: 64 * 1024),
        };

        var error = Assert.Throws<FabricException>(() => PlacementEngine.Plan(Up(Host("host-a")), request, PlacementPolicy.Spread));
        Assert.Equal(code, error.Code);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoHostUp_IsUnavailable()
    {
        Assert.Equal(ErrorCodes.Unavailable, Assert.Throws<FabricException>(() => PlacementEngine.Plan([], Request(), PlacementPolicy.Spread)).Code);
        var error = Assert.Throws<FabricException>(() => PlacementEngine.Plan([new HostCandidate(Host("host-a"), false)], Request(), PlacementPolicy.Spread));
        Assert.Equal("every host is Down", error.Message);
    }

    [Fact]
    public void NoHost_NamesEveryHostAndItsReason()
    {
        var error = PlacementEngine.NoHost(Request().Reservation, new Dictionary<string, string> { ["host-b"] = "cordoned", ["host-a"] = "Down" });

        Assert.Equal(ErrorCodes.InsufficientCapacity, error.Code);
        Assert.Equal("no host can take vm 'web-1' (1 vCPU, 128Mi): host-a: Down; host-b: cordoned", error.Message);
    }
}
