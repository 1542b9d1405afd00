using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary>
/// <c>GET /v1/events</c>: the fleet's events as Server-Sent Events, one JSON <see cref="FleetEvent"/> per <c>data:</c>
/// line. A caller sees host events and the events of its own projects' VMs; a comment line every 15 s keeps proxies
/// from closing a quiet stream.
/// </summary>
internal static class EventEndpoints
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    public static void Map(RouteGroupBuilder v1) =>
        v1.MapGet("/events", Stream).WithTags("Events").WithName("events").WithSummary("Fleet events as Server-Sent Events (the caller's projects only).");

    private static async Task Stream(HttpContext context, FabricClient fabric)
    {
        var caller = context.Caller();
        var aborted = context.RequestAborted;
        var watch = await fabric.SubscribeAsync();
        var events = watch.GetAsyncEnumerator(aborted);
        Task<bool>? next = null;
        try
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.WriteAsync(": fabric events\n\n", aborted);
            await context.Response.Body.FlushAsync(aborted);
            next = events.MoveNextAsync().AsTask();
            while (!aborted.IsCancellationRequested)
            {
                var finished = await Task.WhenAny(next, Task.Delay(Heartbeat, aborted));
                if (finished != next)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", aborted);
                }
                else if (!await next)
                {
                    break;
                }
                else
                {
                    var fleetEvent = events.Current;
                    next = events.MoveNextAsync().AsTask();
                    if (fleetEvent.Vm is not null && !caller.CanSee(fleetEvent.Project))
                    {
                        continue;
                    }

                    await context.Response.WriteAsync($"event: {fleetEvent.Kind}\ndata: {JsonSerializer.Serialize(fleetEvent, ApiJson.Compact)}\n\n", aborted);
                }

                await context.Response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client left.
        }
        finally
        {
            // Unsubscribing completes the watch, which ends a read still pending; only then may its enumerator go.
            await watch.DisposeAsync();
            if (next is not null)
            {
                await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await events.DisposeAsync();
        }
    }
}
