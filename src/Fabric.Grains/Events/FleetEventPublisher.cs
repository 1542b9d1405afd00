using Fabric.Contracts;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Events;

/// <summary>
/// Publishes fleet events on the fleet stream. Best effort: an event that cannot be published is logged and dropped,
/// never allowed to fail the operation it describes (the VM record is the truth; events are notifications).
/// </summary>
public sealed partial class FleetEventPublisher(ILogger<FleetEventPublisher> logger)
{
    private static readonly StreamId Stream = StreamId.Create(FleetStreams.Namespace, FleetStreams.Key);

    public async Task PublishAsync(Grain grain, FleetEvent fleetEvent)
    {
        ArgumentNullException.ThrowIfNull(grain);
        try
        {
            await grain.GetStreamProvider(FleetStreams.Provider).GetStream<FleetEvent>(Stream).OnNextAsync(fleetEvent);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed(fleetEvent.Kind, fleetEvent.Vm ?? fleetEvent.Host ?? "", ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fleet event {Kind} for {Subject} not published: {Error}")]
    private partial void LogPublishFailed(FleetEventKind kind, string subject, string error);
}
