using System.Text.Json;
using Fabric.Contracts;

namespace Fabric.EndToEndTests.Api;

/// <summary>Reads <c>GET /v1/events</c> (Server-Sent Events) in the background, keeping every event it parsed.</summary>
public sealed class EventReader
{
    private readonly List<FleetEvent> _events = [];
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly Task _reading;

    public EventReader(ApiCaller caller, CancellationToken cancellationToken)
    {
        _reading = ReadAsync(caller, cancellationToken);
    }

    /// <summary>Every event read once one matches <paramref name="done"/> (within 60 s).</summary>
    public async Task<IReadOnlyList<FleetEvent>> WaitUntilAsync(Func<FleetEvent, bool> done)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            lock (_events)
            {
                if (_events.Any(done))
                {
                    return [.. _events];
                }
            }

            Assert.False(_reading.IsFaulted, $"the event stream failed: {_reading.Exception}");
            Assert.True(DateTimeOffset.UtcNow < deadline, "the awaited event did not arrive within 60 s");
            await _arrived.WaitAsync(TimeSpan.FromSeconds(1));
        }
    }

    private async Task ReadAsync(ApiCaller caller, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
            using var response = await caller.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            response.EnsureSuccessStatusCode();
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    var fleetEvent = JsonSerializer.Deserialize<FleetEvent>(line["data: ".Length..], ApiJson.Compact)!;
                    lock (_events)
                    {
                        _events.Add(fleetEvent);
                    }

                    _arrived.Release();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The test is done with the stream.
        }
    }
}
