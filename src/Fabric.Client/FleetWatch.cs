using System.Threading.Channels;
using Fabric.Contracts;
using Orleans.Streams;

namespace Fabric.Client;

/// <summary>
/// A live subscription to the fleet's events. Enumerate it to receive them; dispose it to unsubscribe. A consumer that
/// falls more than <see cref="Capacity"/> events behind loses the oldest ones rather than slowing the fleet.
/// </summary>
public sealed class FleetWatch : IAsyncEnumerable<FleetEvent>, IAsyncDisposable
{
    public const int Capacity = 10_000;

    private readonly Channel<FleetEvent> _events = Channel.CreateBounded<FleetEvent>(new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest });

    internal FleetWatch()
    {
    }

    internal StreamSubscriptionHandle<FleetEvent>? Subscription { get; set; }

    public IAsyncEnumerator<FleetEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _events.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        if (Subscription is { } subscription)
        {
            await subscription.UnsubscribeAsync();
        }
    }

    internal Task Deliver(FleetEvent fleetEvent)
    {
        _events.Writer.TryWrite(fleetEvent);
        return Task.CompletedTask;
    }
}
