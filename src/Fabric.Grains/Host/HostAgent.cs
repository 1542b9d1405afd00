using Fabric.Contracts;
using Fabric.Grains.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Grains.Host;

/// <summary>
/// The silo-side agent of the hosts this silo serves: once the silo runs it activates each host grain (which re-attaches
/// to the VMs' processes and reports them), then carries every process change the driver observes to its host grain.
/// It lives outside the grains because it must run for as long as the process does, not as long as an activation.
/// </summary>
public sealed partial class HostAgent(
    IOptions<FabricHostOptions> options,
    HostDrivers drivers,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<HostAgent> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);
    private const int WarnEvery = 10;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(options.Value.HostIds.Select(host => RunAsync(host, stoppingToken)));

    private async Task RunAsync(string hostId, CancellationToken stoppingToken)
    {
        var host = grains.GetGrain<IHostGrain>(hostId);

        // The silo may not accept calls yet, and its metadata may not have reached the placement cache: retry,
        // and say so loudly if it goes on (a driver that cannot start, a missing QEMU, a taken data directory).
        var attempts = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await host.GetInfo();
                LogReady(hostId);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (++attempts % WarnEvery == 0)
                {
                    LogActivationFailing(hostId, attempts, ex.Message);
                }
                else
                {
                    LogActivationRetry(hostId, ex.Message);
                }

                await Task.Delay(RetryDelay, time, stoppingToken);
            }
        }

        var driver = (await drivers.GetAsync(hostId)).Driver;
        try
        {
            await foreach (var change in driver.Events.ReadAllAsync(stoppingToken))
            {
                host.ReportRuntime(change.Status.Vm, change.Status.ToObservation(hostId, change.At)).Ignore();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo is stopping; its VMs keep running.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Host {Host} is serving")]
    private partial void LogReady(string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Host {Host} still not active after {Attempts} attempts: {Error}")]
    private partial void LogActivationFailing(string host, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Host {Host} not active yet: {Error}; retrying")]
    private partial void LogActivationRetry(string host, string error);
}
