using Fabric.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace Fabric.Grains.Events;

/// <summary>
/// Publishes fleet events on the fleet stream. Best effort: an event that cannot be published is logged and dropped,
/// never allowed to fail the operation it describes (the VM record is the truth; events are notifications).
/// One stream handle serves the whole silo: a handle taken inside each grain would cost every VM activation its
/// own stream directory (about 0.6 KiB each, measured).
/// </summary>
public sealed partial class FleetEventPublisher(IServiceProvider services, ILogger<FleetEventPublisher> logger)
{
    private static readonly StreamId Stream = StreamId.Create(FleetStreams.Namespace, FleetStreams.Key);

    private readonly Lazy<IAsyncStream<FleetEvent>> _stream = new(() =>
        services.GetRequiredKeyedService<IStreamProvider>(FleetStreams.Provider).GetStream<FleetEvent>(Stream));

    public async Task PublishAsync(FleetEvent fleetEvent)
    {
        ArgumentNullException.ThrowIfNull(fleetEvent);
        try
        {
            await _stream.Value.OnNextAsync(fleetEvent);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed(fleetEvent.Kind, fleetEvent.Vm ?? fleetEvent.Host ?? "", ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fleet event {Kind} for {Subject} not published: {Error}")]
    private partial void LogPublishFailed(FleetEventKind kind, string subject, string error);
}
