using Fabric.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Api;

/// <summary>
/// Registers the first admin token from <see cref="ApiOptions.BootstrapTokenFile"/> once the silo runs: every silo does
/// it, and the token directory keeps the first registration, so the order does not matter. The token is read from the
/// file, hashed here, and never logged.
/// </summary>
internal sealed partial class BootstrapToken(IOptions<ApiOptions> options, IGrainFactory grains, IHostApplicationLifetime lifetime, ILogger<BootstrapToken> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.BootstrapTokenFile is not { Length: > 0 } file)
        {
            return;
        }

        var started = new TaskCompletionSource();
        await using var registration = lifetime.ApplicationStarted.Register(started.SetResult);
        await started.Task.WaitAsync(stoppingToken);
        if (!ApiTokens.TryParse((await File.ReadAllTextAsync(file, stoppingToken)).Trim(), out var id, out var secret))
        {
            Log.Malformed(logger, file);
            return;
        }

        // The cluster may still be forming: retry until the token directory answers.
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await grains.GetGrain<ITokenDirectoryGrain>(0).EnsureBootstrap(id, ApiTokens.Sha256Hex(secret));
                Log.Registered(logger, id, file);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.Retrying(logger, ex.Message);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "bootstrap admin token {Id} from {File} is registered")]
        public static partial void Registered(ILogger logger, string id, string file);

        [LoggerMessage(2, LogLevel.Error, "{File} does not hold a token of the form fabric_<id>_<secret>; no bootstrap admin token")]
        public static partial void Malformed(ILogger logger, string file);

        [LoggerMessage(3, LogLevel.Warning, "registering the bootstrap admin token failed, retrying: {Reason}")]
        public static partial void Retrying(ILogger logger, string reason);
    }
}
