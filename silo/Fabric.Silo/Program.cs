using Fabric.Api;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Grains.Host;
using Fabric.Grains.Hosting;
using Fabric.Grains.Persistence;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Networking;
using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Simulation;
using Fabric.Silo;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Persistence;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

// appsettings.json ships beside the program; the working directory is the operator's.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});

SiloSettings settings;
try
{
    settings = SiloSettings.Load(builder.Configuration);
}
catch (FabricException ex)
{
    Console.Error.WriteLine($"error: {ex.Code}: {ex.Message}");
    return 2;
}

ConfigurationOptions? redisOptions;
try
{
    redisOptions = settings.Redis is { } address ? FabricRedis.Options(address, settings.RedisPasswordFile, settings.Tls?.LoadTrust()) : null;
}
catch (FabricException ex)
{
    Console.Error.WriteLine($"error: {ex.Code}: {ex.Message}");
    return 2;
}

ConnectionMultiplexer? redis = redisOptions is not null ? await ConnectionMultiplexer.ConnectAsync(redisOptions) : null;

builder.UseOrleans(silo =>
{
    silo.Configure<ClusterOptions>(o =>
    {
        o.ClusterId = settings.ClusterId;
        o.ServiceId = settings.ServiceId;
    });
    silo.Configure<SiloOptions>(o => o.SiloName = string.Join('+', settings.Host.HostIds.Take(3)) + (settings.Host.HostIds.Count > 3 ? $"+{settings.Host.HostIds.Count - 3}" : ""));
    FailureDetection.Configure(silo, settings.FailureDetection);

    // Any membership option may still be set one by one (Fabric:Membership:ProbeTimeout, …), over the mode's values.
    silo.Services.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Fabric:Membership"));

    if (settings.Tls is { } tls)
    {
        silo.UseTls(tls.Configure);
    }

    if (redis is not null)
    {
        var options = redisOptions!;
        silo.ConfigureEndpoints(settings.Address, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: false);
        silo.UseRedisClustering(o => o.ConfigurationOptions = options);
        silo.AddRedisGrainStorage(FabricPersistence.Name, o =>
        {
            o.ConfigurationOptions = options;
            o.DeleteStateOnClear = true;
        });
        // Stream subscriptions are Orleans' own state, whose types System.Text.Json cannot read back: they keep
        // Orleans' binary format. Fabric's own state uses System.Text.Json (below).
        silo.AddRedisGrainStorage(FabricPersistence.PubSub, (OptionsBuilder<RedisStorageOptions> o) => o.Configure<Serializer>((pubSub, serializer) =>
        {
            pubSub.ConfigurationOptions = options;
            pubSub.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        }));
        silo.AddFabricRedisStores(redis, $"fabric:{settings.ServiceId}:");
    }
    else
    {
        silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort);
        silo.AddMemoryGrainStorage(FabricPersistence.Name);
        silo.AddMemoryGrainStorage(FabricPersistence.PubSub);
        silo.AddFabricMemoryStores();
    }

    silo.UseSystemTextJsonGrainStorageSerializer();
    silo.AddFabric(settings.Host, CreateDriverFactory(settings), builder.Configuration);
});

// The REST API, at the silo's own address: the one public way in (docs/api.md).
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(settings.Address, settings.ApiPort, listen =>
    {
        if (settings.Tls is { } tls)
        {
            // Any client certificate may be offered; the API's certificate scheme judges it against the fabric's CAs.
            listen.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificate = tls.LoadCertificate(),
                ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                ClientCertificateValidation = (_, _, _) => true,
                CheckCertificateRevocation = false,
            });
        }
    });

    kestrel.Limits.MaxRequestBodySize = ApiOptions.MaxBodyBytes;
    kestrel.AddServerHeader = false;
});
builder.Services.AddFabricApi(builder.Configuration);

await using var host = builder.Build();
host.MapFabricApi();
var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Fabric.Silo");
if (redis is null)
{
    SiloLog.DevelopmentMode(logger);
}

if (settings.Tls is null)
{
    SiloLog.NoTls(logger);
}

SiloLog.Starting(logger, settings.Host.HostIds, settings.Driver, settings.Address, settings.SiloPort, settings.GatewayPort, settings.ApiPort, settings.DataDirectory, settings.Redis ?? "none", settings.RedisPasswordFile is null ? "none" : "from its file", settings.Tls?.CertificateFile ?? "none");
try
{
    // SIGTERM stops the silo; the drivers detach and every VM keeps running, re-attached at the next start.
    await host.RunAsync();
}
catch (OperationCanceledException) when (Environment.ExitCode != 0)
{
    // The silo stopped itself while still starting (a refused host id): the web host's start was cut short.
}
finally
{
    redis?.Dispose();
}

// Non-zero when the silo stopped itself: e.g. HostAgent.RefusedExitCode, another silo serves its host id.
return Environment.ExitCode;

static HostDriverFactory CreateDriverFactory(SiloSettings settings) => settings.Driver switch
{
    DriverKind.Simulated => (_, _, _) => Task.FromResult<IHypervisorDriver>(new SimulatedDriver(new SimulatedDriverOptions
    {
        Cpus = settings.Host.VCpus > 0 ? settings.Host.VCpus : 64,
        MemoryMiB = settings.Host.MemoryMiB > 0 ? settings.Host.MemoryMiB : 256 * 1024,
    })),
    _ => async (_, services, cancellationToken) => await QemuDriver.CreateAsync(
        new QemuDriverOptions
        {
            DataDirectory = settings.DataDirectory,
            ImagesDirectory = settings.ImagesDirectory,
            Accelerator = settings.Accelerator,
            QemuBinary = settings.QemuBinary,
            ConsoleLogLimitBytes = settings.ConsoleLogLimitBytes,
            MemoryLimitOverrideMiB = settings.MemoryLimitOverrideMiB,

            // The host's one certificate also secures its QEMUs' migration and disk-mirror streams to other hosts.
            StreamTls = settings.Tls is { } tls ? new StreamTlsFiles(tls.CaFile, tls.CertificateFile, tls.KeyFile) : null,
        },
        services.GetRequiredService<ILogger<QemuDriver>>(),
        cancellationToken,
        settings.Networks ? new LinuxHostNetworks(new HostNetworksOptions { DataDirectory = settings.DataDirectory }, services.GetRequiredService<ILogger<LinuxHostNetworks>>()) : null),
};
