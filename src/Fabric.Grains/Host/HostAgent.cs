using Fabric.Contracts;
using Fabric.Grains.Hosting;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Fabric.Grains.Reconciliation;
using Fabric.Hypervisor;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Grains.Host;

/// <summary>
/// The silo-side agent of the hosts this silo serves. For each host, before anything is touched: the host id must be
/// bound to this machine (or free, and is then bound to it), and no other live silo may serve it. Then it starts the
/// driver (outside any grain turn), activates the host grain, and carries every process change the driver observes to
/// it. A host this silo may not serve stops the silo with exit code <see cref="RefusedExitCode"/>.
/// It lives outside the grains because it must run for as long as the process does, not as long as an activation.
/// </summary>
public sealed partial class HostAgent(
    IOptions<FabricHostOptions> options,
    HostDrivers drivers,
    HostDirectory directory,
    IHostRegistry registry,
    ILocalSiloDetails silo,
    IGrainFactory grains,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<HostAgent> logger) : BackgroundService
{
    /// <summary>The exit code of a silo that may not serve its host (another silo serves it, or it is bound to another machine).</summary>
    public const int RefusedExitCode = 3;

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan IncumbentProbeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(30);
    private const int WarnEvery = 10;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(options.Value.HostIds.Select(host => RunAsync(host, stoppingToken)));

    private async Task RunAsync(string hostId, CancellationToken stoppingToken)
    {
        IHypervisorDriver driver;
        try
        {
            await ClaimMachineAsync(hostId, stoppingToken);
            await RefuseIfServedElsewhereAsync(hostId, stoppingToken);
            driver = await drivers.StartAsync(hostId, stoppingToken);
            await ActivateAsync(hostId, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            // Refused (another silo serves the host, another machine owns it) or a driver that cannot start here.
            LogRefused(hostId, ex.Message);
            Environment.ExitCode = RefusedExitCode;
            lifetime.StopApplication();
            return;
        }

        LogReady(hostId);
        grains.GetGrain<ICatalogAuditGrain>(ICatalogAuditGrain.Key).Ping().Ignore();
        var host = grains.GetGrain<IHostGrain>(hostId);
        try
        {
            await foreach (var change in driver.Events.ReadAllAsync(stoppingToken))
            {
                host.ProcessChanged(change.Status.Vm).Ignore();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping; its VMs keep running.
        }
    }

    /// <summary>Binds the host id to this machine, or refuses when it is bound to another.</summary>
    private async Task ClaimMachineAsync(string hostId, CancellationToken stoppingToken)
    {
        var machine = options.Value.MachineId;
        var bound = await RetryAsync(hostId, "claim its machine binding", () => registry.ClaimAsync(hostId, machine), stoppingToken);
        if (bound != machine)
        {
            throw new HostRefusedException(
                $"host '{hostId}' is bound to machine '{bound}', the first that served it; this silo runs on machine '{machine}'. " +
                $"'fabricctl host forget {hostId}' releases it (refused while VMs are placed on it)");
        }
    }

    /// <summary>
    /// Refuses when another live silo serves the host. The directory gives the host to the silo that joined first; if
    /// that is another one and it answers, this silo is the second claimant and must go. If it does not answer it is
    /// dying without having been declared dead yet: wait until membership says so.
    /// </summary>
    private async Task RefuseIfServedElsewhereAsync(string hostId, CancellationToken stoppingToken)
    {
        try
        {
            await directory.WaitUntilResolvedAsync(stoppingToken).WaitAsync(ResolveTimeout, time, stoppingToken);
        }
        catch (TimeoutException)
        {
            LogDirectoryUnresolved(hostId, ResolveTimeout.TotalSeconds);
        }

        var waiting = false;
        while (directory.SiloOf(hostId) is { } serving && !serving.Equals(silo.SiloAddress))
        {
            HostInfo incumbent;
            try
            {
                incumbent = await grains.GetGrain<IHostGrain>(hostId).GetInfo().WaitAsync(IncumbentProbeTimeout, time, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (!waiting)
                {
                    LogWaitingForIncumbent(hostId, serving.ToString(), ex.Message);
                    waiting = true;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                continue;
            }

            throw new HostRefusedException(
                $"host id '{hostId}' is already served by silo {serving} (address {incumbent.Address}, machine {incumbent.Machine}); " +
                "a host id is served by one silo at a time, so this silo exits");
        }
    }

    /// <summary>Activates the host grain; retries while the silo, or its placement's view of the metadata, is not ready.</summary>
    private async Task ActivateAsync(string hostId, CancellationToken stoppingToken)
    {
        await RetryAsync(hostId, "activate", () => grains.GetGrain<IHostGrain>(hostId).GetInfo(), stoppingToken);
    }

    private async Task<T> RetryAsync<T>(string hostId, string what, Func<Task<T>> call, CancellationToken stoppingToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (attempt % WarnEvery == 0)
                {
                    LogStillFailing(hostId, what, attempt, ex.Message);
                }
                else
                {
                    LogRetry(hostId, what, ex.Message);
                }

                await Task.Delay(RetryDelay, time, stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host} is serving")]
    private partial void LogReady(string host);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Host {Host} refused: {Reason}")]
    private partial void LogRefused(string host, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: silo {Silo} claims it but does not answer ({Error}); waiting until the cluster declares it dead")]
    private partial void LogWaitingForIncumbent(string host, string silo, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: cluster membership did not settle within {Seconds} s; going on with what is known")]
    private partial void LogDirectoryUnresolved(string host, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host}: could not {What} after {Attempts} attempts: {Error}")]
    private partial void LogStillFailing(string host, string what, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Host {Host}: could not {What} yet: {Error}; retrying")]
    private partial void LogRetry(string host, string what, string error);
}

/// <summary>This silo may not serve a host: another silo serves it, or it is bound to another machine.</summary>
public sealed class HostRefusedException(string message) : Exception(message);
