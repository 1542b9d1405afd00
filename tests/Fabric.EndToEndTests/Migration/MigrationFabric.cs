using Fabric.Client;
using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.ControlPlane;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Migration;

/// <summary>The migration tests share one fabric and run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class MigrationCollection : ICollectionFixture<MigrationFabric>
{
    public const string Name = "migration";
}

/// <summary>
/// One fabric shared by the migration fault tests (each uses VMs of its own and ends with the invariant check):
/// host-a and host-b as network peers, short migration deadlines, and the coordinator's test hold
/// (<c>Fabric:Migration:HoldFile</c>), a barrier that keeps migrations in a named phase while a fault is injected.
/// </summary>
public sealed class MigrationFabric : IAsyncLifetime
{
    private FaultScenario? _scenario;

    public static readonly string[] Hosts = ["host-a", "host-b", "host-c"];

    public string HoldFile { get; } = Path.Combine(Path.GetTempPath(), $"fabric-hold-{Guid.NewGuid():N}");

    internal FaultScenario Scenario => _scenario ?? throw new InvalidOperationException("the fabric is not started");

    public FabricClient Client => Scenario.Client;

    public FabricEnvironment Environment => Scenario.Environment;

    /// <summary>Settings of every silo here; also those of a silo started later.</summary>
    public Dictionary<string, string> Settings { get; } = new(FabricEnvironment.FastReconcile);

    public async Task InitializeAsync()
    {
        Settings["Fabric__Migration__HoldFile"] = HoldFile;

        // Room for every test's guests (tiny ones, idle in HLT) on these 2-core hosts.
        Settings["Fabric__VCpus"] = "64";
        Settings["Fabric__Migration__PrepareTimeout"] = "00:00:15";
        Settings["Fabric__Migration__UnreachableTimeout"] = "00:00:05";
        Settings["Fabric__Migration__SwitchOverTimeout"] = "00:00:10";
        Settings["Fabric__Migration__StallTimeout"] = "00:00:10";
        Settings["Fabric__Migration__MinimumBudget"] = "00:00:20";
        Settings["Fabric__Migration__BudgetPerGiB"] = "00:00:20";
        // Three hosts, as a fleet has: a host cut off the underlay is then declared Down by the two others' votes.
        _scenario = await FaultScenario.StartAsync(FaultScenario.PeersWherePossible, Settings, Hosts);
    }

    public async Task DisposeAsync()
    {
        File.Delete(HoldFile);
        if (_scenario is not null)
        {
            await _scenario.DisposeAsync();
        }
    }

    /// <summary>Migrations reaching <paramref name="phase"/> stay there until <see cref="Release"/>.</summary>
    public void Hold(MigrationPhase phase) => File.WriteAllText(HoldFile, phase.ToString());

    public void Release() => File.Delete(HoldFile);

    /// <summary>Waits until the VM's migration is held in <paramref name="phase"/> (or has ended).</summary>
    public async Task<MigrationInfo> WaitUntilHeldAsync(string vm, MigrationPhase phase)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var info = await Client.GetMigrationAsync(vm);
        while (!(info.Phase == phase && info.Reason?.Contains("held", StringComparison.Ordinal) == true))
        {
            Assert.False(info.IsFinished, $"migration of {vm} ended ({info.Phase}: {info.Reason}) before it was held in {phase}");
            Assert.True(DateTime.UtcNow < deadline, $"migration of {vm} was not held in {phase} within 60 s (it is {info.Phase}: {info.Reason})");
            await Task.Delay(50);
            info = await Client.GetMigrationAsync(vm);
        }

        return info;
    }

    /// <summary>A tiny guest pinned to <paramref name="host"/>, started and ticking.</summary>
    public async Task<(VmInfo Vm, string Boot)> RunTinyAsync(string name, string host = "host-a")
    {
        // Every test starts from a whole fabric, whatever the one before it did to the silos.
        await EnsureAllSilosAsync();
        var vm = await Scenario.RunTinyAsync(name, host);
        var boot = await new VmConsole(Client, name).WaitForReadyAsync();
        return (vm, boot);
    }

    /// <summary>The guest still ticks (with this boot) after the last tick seen so far.</summary>
    public async Task AssertTicksAsync(string vm, string boot)
    {
        var console = new VmConsole(Client, vm);
        var (_, ticks) = await console.ProtocolAsync();
        var last = ticks.Where(t => t.Boot == boot).Select(t => t.N).DefaultIfEmpty(0).Max();
        await console.WaitForTickAsync(boot, after: last, timeout: TimeSpan.FromSeconds(30));
    }

    /// <summary>The host id of the silo a migration's coordinator ran on.</summary>
    public string HostOfSilo(string silo) =>
        Environment.Silos.Values.First(s => silo.Contains($"{s.Address}:{s.SiloPort}", StringComparison.Ordinal)).HostId;

    /// <summary>
    /// After a host was cut off the underlay its silo is restarted, as an operator would: a silo declared dead while
    /// cut off keeps its grain activations, unreachable to the rest, until it reads the membership table again and
    /// ends itself, which can take a minute. Its QEMU processes live on; the restarted silo finds and fences them.
    /// </summary>
    public async Task RestartAfterPartitionAsync(string host)
    {
        await Environment.KillSiloAsync(host);
        await EnsureSiloAsync(host);
    }

    public async Task EnsureAllSilosAsync()
    {
        foreach (var host in Hosts)
        {
            await EnsureSiloAsync(host);
        }
    }

    /// <summary>Restarts the silo of <paramref name="host"/> if it is not running (a killed one, or one that exited when declared dead).</summary>
    public async Task EnsureSiloAsync(string host)
    {
        if (Environment.Silos[host].Process.HasExited)
        {
            await Environment.StartSiloAsync(host, Settings);
        }

        await Scenario.WaitUntilAsync(host, HostState.Ready);
    }
}
