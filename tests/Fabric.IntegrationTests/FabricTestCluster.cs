using System.Collections.Concurrent;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Grains.Host;
using Fabric.Grains.Hosting;
using Fabric.Grains.Persistence;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Simulation;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Fabric.IntegrationTests;

/// <summary>
/// An in-process Orleans cluster of Fabric silos whose hosts use the SIMULATED driver (grain flows are the subject
/// here, not QEMU: the end-to-end tests run the same flows with real QEMU). Silo i serves the hosts in <c>hosts[i]</c>.
/// </summary>
public sealed class FabricTestCluster : IAsyncDisposable
{
    private readonly InProcessTestCluster _cluster;
    private readonly Dictionary<string, string[]> _hostsBySilo = new(StringComparer.Ordinal);

    private FabricTestCluster(InProcessTestCluster cluster)
    {
        _cluster = cluster;
    }

    public FabricClient Client { get; private set; } = null!;

    /// <summary>An Orleans client connected as clients are, through a gateway: methods marked <c>[HostInternal]</c> refuse it.</summary>
    public IClusterClient OrleansClient => _cluster.Client;

    /// <summary>
    /// Calls from inside a silo, as the fabric's own services make them (the host agent, the API): for tests that drive
    /// a grain's internal methods directly, such as a host grain's commands or a network's allocations.
    /// </summary>
    public IGrainFactory InternalGrains => _cluster.GetSiloServiceProvider(_cluster.Silos[0].SiloAddress).GetRequiredService<IGrainFactory>();

    /// <summary>The audit trail the silos share, as the API layer reaches it.</summary>
    public IAuditLog AuditLog => _cluster.GetSiloServiceProvider(_cluster.Silos[0].SiloAddress).GetRequiredService<IAuditLog>();

    /// <summary>
    /// Starts one silo per entry of <paramref name="hosts"/>, each host offering <paramref name="vcpus"/> and
    /// <paramref name="memoryMiB"/> (no overcommit) and charging each VM <paramref name="overhead"/> beyond its RAM (none
    /// unless given).
    /// </summary>
    public static async Task<FabricTestCluster> StartAsync(
        string[][] hosts,
        int vcpus = 8,
        long memoryMiB = 8192,
        PlacementPolicy defaultPolicy = PlacementPolicy.Spread,
        Dictionary<string, Dictionary<string, string>>? labels = null,
        MemoryOverheadFormula? overhead = null)
    {
        var siloIndex = 0;
        var grainState = new ConcurrentDictionary<string, (BinaryData, string)>(StringComparer.Ordinal);
        var ledger = new InMemoryReservationLedger();
        var catalog = new InMemoryVmCatalog();
        var registry = new InMemoryHostRegistry();
        var epochs = new InMemoryEpochSource();
        var charges = new InMemoryProjectCharges();
        var audit = new InMemoryAuditLog(TimeProvider.System);
        var assigned = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var builder = new InProcessTestClusterBuilder((short)hosts.Length);
        builder.ConfigureSilo((silo, siloBuilder) =>
        {
            string[] served;
            lock (assigned)
            {
                served = assigned.TryGetValue(silo.SiloName, out var existing) ? existing : hosts[siloIndex++];
                assigned[silo.SiloName] = served;
            }

            var options = new FabricHostOptions { VCpus = vcpus, MemoryMiB = memoryMiB, CpuOvercommit = 1, MemoryOvercommit = 1, MachineId = "test-machine" };
            options.HostIds.AddRange(served);
            foreach (var host in served)
            {
                if (labels?.TryGetValue(host, out var hostLabels) == true)
                {
                    foreach (var (key, value) in hostLabels)
                    {
                        options.Labels[key] = value;
                    }
                }
            }

            // Storage every silo shares, as they share Redis in a real fabric.
            siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(FabricPersistence.Name, (sp, _) => new SharedGrainStorage(sp.GetRequiredService<IGrainStorageSerializer>(), grainState));
            siloBuilder.AddMemoryGrainStorage(FabricPersistence.PubSub);
            siloBuilder.UseSystemTextJsonGrainStorageSerializer();
            siloBuilder.Services.AddSingleton<IReservationLedger>(ledger);
            siloBuilder.Services.AddSingleton<IVmCatalog>(catalog);
            siloBuilder.Services.AddSingleton<IHostRegistry>(registry);
            siloBuilder.Services.AddSingleton<IEpochSource>(epochs);
            siloBuilder.Services.AddSingleton<IProjectCharges>(charges);
            siloBuilder.Services.AddSingleton<IAuditLog>(audit);
            siloBuilder.AddFabric(options, (_, _, _) => Task.FromResult<IHypervisorDriver>(new SimulatedDriver(new SimulatedDriverOptions { Cpus = vcpus, MemoryMiB = memoryMiB, MemoryOverhead = overhead ?? new(0, 0, 0) })));
            siloBuilder.Services.Configure<SchedulerOptions>(o => o.DefaultPolicy = defaultPolicy);
        });
        builder.ConfigureClient(client => client.AddMemoryStreams(FleetStreams.Provider));

        var cluster = builder.Build();
        await cluster.DeployAsync();
        var fabric = new FabricTestCluster(cluster) { Client = new FabricClient(cluster.Client) };
        foreach (var (silo, served) in assigned)
        {
            fabric._hostsBySilo[silo] = served;
        }

        await fabric.WaitForHostsAsync(hosts.SelectMany(h => h).ToArray());
        return fabric;
    }

    /// <summary>Waits until the scheduler knows every host in <paramref name="hosts"/> and each is up.</summary>
    public async Task WaitForHostsAsync(string[] hosts)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var known = await Client.ListHostsAsync();
            if (hosts.All(h => known.Any(k => k.Name == h && k.State != HostState.Down)))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"hosts never became ready: want {string.Join(",", hosts)}, have {string.Join(",", known.Select(k => $"{k.Name}:{k.State}"))}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The simulated driver of <paramref name="host"/>, from the silo serving it.</summary>
    public SimulatedDriver DriverOf(string host)
    {
        var silo = SiloServing(host);
        var drivers = _cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<HostDrivers>();
        return (SimulatedDriver)drivers.Get(host);
    }

    /// <summary>The silo serving <paramref name="host"/>.</summary>
    public InProcessSiloHandle SiloServing(string host) =>
        _cluster.Silos.Single(s => _hostsBySilo.TryGetValue(s.Name, out var served) && served.Contains(host));

    /// <summary>Kills the silo serving <paramref name="host"/> abruptly.</summary>
    public Task KillSiloServing(string host) => _cluster.KillSiloAsync(SiloServing(host));

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
    }
}
