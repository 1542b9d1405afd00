using Fabric.Client;
using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>
/// A real fabric for one fault test (Redis, host silos, QEMU), with the steps the fault tests share written as
/// sentences. Every test ends with <see cref="AssertInvariantsAsync"/>.
/// </summary>
internal sealed class FaultScenario : IAsyncDisposable
{
    private FaultScenario(FabricEnvironment environment, FabricClient client)
    {
        Environment = environment;
        Client = client;
        Invariants = new FabricInvariants(environment, client);
    }

    public FabricEnvironment Environment { get; }

    public FabricClient Client { get; }

    public FabricInvariants Invariants { get; }

    public static Task<FaultScenario> StartAsync(params string[] hosts) => StartAsync(NetworkTopology.Loopback, hosts);

    /// <summary>Hosts as network peers (each in its own namespace, with its own address) where the machine allows it (root), else loopback.</summary>
    public static NetworkTopology PeersWherePossible => Underlay.UnavailableReason is null ? NetworkTopology.Namespaces : NetworkTopology.Loopback;

    public static Task<FaultScenario> StartAsync(NetworkTopology topology, params string[] hosts) =>
        StartAsync(topology, FabricEnvironment.FastReconcile, hosts);

    /// <summary>A fabric whose silos all start with <paramref name="settings"/> (on top of nothing: pass FastReconcile's too).</summary>
    public static async Task<FaultScenario> StartAsync(NetworkTopology topology, IReadOnlyDictionary<string, string> settings, params string[] hosts)
    {
        var environment = await FabricEnvironment.StartAsync(topology, settings, hosts);
        try
        {
            return new FaultScenario(environment, await environment.ConnectAsync());
        }
        catch
        {
            await environment.DisposeAsync();
            throw;
        }
    }

    public static VmSpec Tiny(string name, string host) => new()
    {
        Name = name,
        Image = "tiny",
        MemoryMiB = 16,
        Placement = new VmPlacement { Host = host },
    };

    /// <summary>Creates a tiny guest on <paramref name="host"/>, starts it and waits for its ready line.</summary>
    public async Task<VmInfo> RunTinyAsync(string name, string host)
    {
        await Client.CreateVmAsync(Tiny(name, host));
        var running = await Client.StartVmAsync(name);
        await new VmConsole(Client, name).WaitForReadyAsync();
        return running;
    }

    public Task<TimeSpan> WaitUntilAsync(string host, HostState state) =>
        FabricEnvironment.WaitForHostStateAsync(Client, host, state, TimeSpan.FromSeconds(60));

    public Task<VmInfo> WaitForAsync(string vm, VmState state, int seconds = 60) =>
        Client.WaitForVmAsync(vm, [state], TimeSpan.FromSeconds(seconds));

    /// <summary>Live QEMU processes of <paramref name="vm"/>, on any host of the environment.</summary>
    public IReadOnlyList<int> QemuOf(string vm) =>
        [.. Environment.QemuPids().Where(pid => ProcessSweep.IsQemuOf(pid, vm))];

    public Task AssertInvariantsAsync() => Invariants.AssertHoldAsync();

    public async ValueTask DisposeAsync() => await Environment.DisposeAsync();
}
