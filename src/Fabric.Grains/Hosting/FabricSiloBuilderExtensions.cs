using Fabric.Grains.Access;
using Fabric.Grains.Events;
using Fabric.Grains.Host;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Runtime.MembershipService.SiloMetadata;
using StackExchange.Redis;

namespace Fabric.Grains.Hosting;

/// <summary>Wires Fabric's grains into a silo: host-pinned placement, the host agent, drivers, stores and the fleet stream.</summary>
public static class FabricSiloBuilderExtensions
{
    /// <summary>
    /// Adds Fabric to a silo serving the hosts in <paramref name="hostOptions"/>, whose drivers <paramref name="drivers"/> creates.
    /// The caller chooses storage and clustering; Fabric's grain storage must be registered under <see cref="FabricPersistence.Name"/>
    /// and a pub-sub store under <see cref="FabricPersistence.PubSub"/>.
    /// </summary>
    public static ISiloBuilder AddFabric(this ISiloBuilder silo, FabricHostOptions hostOptions, HostDriverFactory drivers, IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(hostOptions);
        hostOptions.Validate();

        // Every silo publishes the host ids it serves; host grains are placed by them.
        silo.UseSiloMetadata(new Dictionary<string, string> { [HostDirectory.MetadataKey] = HostDirectory.FormatMetadata(hostOptions.HostIds) });
        silo.AddPlacementDirector<HostPinnedPlacement, HostPinnedPlacementDirector>();
        silo.AddMemoryStreams(Contracts.FleetStreams.Provider);

        // Clients never reach the methods hosts and VMs coordinate through ([HostInternal]).
        silo.AddIncomingGrainCallFilter<HostInternalCallFilter>();

        var services = silo.Services;
        services.AddOptions<FabricHostOptions>().Configure(o =>
        {
            o.HostIds.AddRange(hostOptions.HostIds);
            o.VCpus = hostOptions.VCpus;
            o.MemoryMiB = hostOptions.MemoryMiB;
            o.ReservedMemoryMiB = hostOptions.ReservedMemoryMiB;
            o.CpuOvercommit = hostOptions.CpuOvercommit;
            o.MemoryOvercommit = hostOptions.MemoryOvercommit;
            o.MaxOutgoingMigrations = hostOptions.MaxOutgoingMigrations;
            o.MaxIncomingMigrations = hostOptions.MaxIncomingMigrations;
            o.MachineId = hostOptions.MachineId;
            foreach (var (key, value) in hostOptions.Labels)
            {
                o.Labels[key] = value;
            }
        });
        var schedulerOptions = services.AddOptions<SchedulerOptions>();
        var reconcileOptions = services.AddOptions<ReconcileOptions>();
        var migrationOptions = services.AddOptions<MigrationOptions>();
        if (configuration is not null)
        {
            schedulerOptions.Bind(configuration.GetSection(SchedulerOptions.Section));
            reconcileOptions.Bind(configuration.GetSection(ReconcileOptions.Section));
            migrationOptions.Bind(configuration.GetSection(MigrationOptions.Section));
        }

        migrationOptions.Validate(o =>
        {
            o.Validate();
            return true;
        });

        reconcileOptions.Validate(o =>
        {
            o.Validate();
            return true;
        });

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<HostDirectory>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<HostDirectory>());
        services.AddSingleton<FleetEventPublisher>();
        services.AddSingleton(sp => new HostDrivers(drivers, sp));
        services.AddHostedService<HostAgent>();
        return silo;
    }

    /// <summary>
    /// Keeps ledgers, the VM catalog, host rows, epochs, project charges and the audit trail in Redis, under keys
    /// prefixed with <paramref name="keyPrefix"/>.
    /// </summary>
    public static ISiloBuilder AddFabricRedisStores(this ISiloBuilder silo, IConnectionMultiplexer redis, string keyPrefix)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Services.AddSingleton<IReservationLedger>(new RedisReservationLedger(redis, keyPrefix));
        silo.Services.AddSingleton<IVmCatalog>(new RedisVmCatalog(redis, keyPrefix));
        silo.Services.AddSingleton<IHostRegistry>(new RedisHostRegistry(redis, keyPrefix));
        silo.Services.AddSingleton<IEpochSource>(new RedisEpochSource(redis, keyPrefix));
        silo.Services.AddSingleton<IProjectCharges>(new RedisProjectCharges(redis, keyPrefix));
        silo.Services.AddSingleton<IAuditLog>(new RedisAuditLog(redis, keyPrefix));
        return silo;
    }

    /// <summary>
    /// Keeps ledgers, the VM catalog, host rows, epochs, project charges and the audit trail in process memory
    /// (development mode and tests).
    /// </summary>
    public static ISiloBuilder AddFabricMemoryStores(this ISiloBuilder silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Services.AddSingleton<IReservationLedger, InMemoryReservationLedger>();
        silo.Services.AddSingleton<IVmCatalog, InMemoryVmCatalog>();
        silo.Services.AddSingleton<IHostRegistry, InMemoryHostRegistry>();
        silo.Services.AddSingleton<IEpochSource, InMemoryEpochSource>();
        silo.Services.AddSingleton<IProjectCharges, InMemoryProjectCharges>();
        silo.Services.AddSingleton<IAuditLog, InMemoryAuditLog>();
        return silo;
    }
}
