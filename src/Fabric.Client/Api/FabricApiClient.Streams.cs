using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Consoles (long polls of <c>/v1/vms/{vm}/console</c>) and fleet events (Server-Sent Events of <c>/v1/events</c>).</summary>
public sealed partial class FabricApiClient
{
    /// <summary>The most characters of a console line one sends (the VM's own limit, its newline included).</summary>
    public const int MaxConsoleLine = 4096;

    /// <summary>How long one console read waits for new output while following.</summary>
    private const int ConsoleWaitMs = 5000;

    /// <summary>A console line longer than this is passed on in pieces (a guest that never ends its line cannot grow memory).</summary>
    private const int MaxConsoleLineChars = 64 * 1024;

    /// <summary>How long a broken event stream is retried (a silo restarting) before the watch fails with <c>unavailable</c>.</summary>
    private static readonly TimeSpan EventReconnectPatience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan EventReconnectDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The VM's serial console, line by line: what it printed so far, then (with <paramref name="follow"/>) new lines as
    /// they come, until cancelled (then it ends rather than throwing).
    /// </summary>
    public async IAsyncEnumerable<string> ConsoleAsync(string name, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var path = $"v1/vms/{Segment(name)}/console";
        var wait = follow ? ConsoleWaitMs : 0;
        var offset = 0L;
        var pending = new StringBuilder();
        var decoder = new UTF8Encoding(false).GetDecoder();
        while (!cancellationToken.IsCancellationRequested)
        {
            ConsoleChunk chunk;
            try
            {
                chunk = await SendAsync<ConsoleChunk>(HttpMethod.Get, $"{path}?offset={offset}&wait={wait}", null, _connection.RequestTimeout + TimeSpan.FromMilliseconds(wait), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            if (chunk.Offset < offset)
            {
                pending.Clear(); // A new process started a new log.
                decoder.Reset();
            }

            var data = chunk.Data ?? [];
            offset = chunk.NextOffset;
            var chars = new char[decoder.GetCharCount(data, flush: false)];
            decoder.GetChars(data, chars, flush: false);
            pending.Append(chars);
            foreach (var line in TakeLines(pending))
            {
                yield return line;
            }

            if (data.Length == 0 && !follow)
            {
                break;
            }
        }

        if (pending.Length > 0 && !follow)
        {
            yield return pending.ToString();
        }
    }

    /// <summary>Types <paramref name="line"/> and a newline into the VM's serial console.</summary>
    public Task SendConsoleAsync(string name, string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.Length + 1 > MaxConsoleLine)
        {
            throw FabricException.InvalidSpec("line", $"is {line.Length} characters long; a console line is at most {MaxConsoleLine - 1} (with its newline, {MaxConsoleLine})");
        }

        return SendAsync(HttpMethod.Post, $"v1/vms/{Segment(name)}/console", new LineBody(line), CancellationToken.None);
    }

    /// <summary>
    /// Fleet events (VM placements, state changes, deletions, host state changes) of the caller's projects from now on,
    /// until cancelled (then it ends rather than throwing). A stream the server ends or that breaks is opened again
    /// (events in between are lost); one that cannot be opened again within 10 s fails with <c>unavailable</c>, and so does
    /// one that cannot be opened at all.
    /// </summary>
    public async IAsyncEnumerable<FleetEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        DateTimeOffset? brokenSince = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            HttpResponseMessage response;
            try
            {
                response = await OpenEventsAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                yield break;
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Unavailable && brokenSince is { } since && DateTimeOffset.UtcNow - since < EventReconnectPatience)
            {
                // The stream broke a moment ago (its silo restarting, say): try again until the patience runs out.
                await DelayQuietly(EventReconnectDelay, cancellationToken);
                continue;
            }

            brokenSince = null;
            using (response)
            {
                using var events = new ServerSentEvents(await response.Content.ReadAsStreamAsync(CancellationToken.None));
                while (await ReadEventAsync(events, cancellationToken) is { } data)
                {
                    yield return ParseEvent(data);
                }
            }

            brokenSince = DateTimeOffset.UtcNow;
            await DelayQuietly(EventReconnectDelay, cancellationToken);
        }
    }

    /// <summary>Opens the event stream: the response's headers are read, its body streams on.</summary>
    private async Task<HttpResponseMessage> OpenEventsAsync(CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("v1/events", UriKind.Relative));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connect.CancelAfter(_connection.RequestTimeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(HttpMethod.Get, "v1/events", _connection.RequestTimeout);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ErrorAsync(response, cancellationToken);
        }
    }

    /// <summary>The next event's data; null when the stream ended, broke or was cancelled.</summary>
    private static async Task<string?> ReadEventAsync(ServerSentEvents events, CancellationToken cancellationToken)
    {
        try
        {
            return await events.ReadEventAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException)
        {
            return null;
        }
    }

    private FleetEvent ParseEvent(string data)
    {
        try
        {
            return JsonSerializer.Deserialize(data, FabricApiJson.Info<FleetEvent>(FabricApiJson.Compact))
                ?? throw FabricException.Unavailable($"the event stream of the fabric's API at {BaseUrl} sent an empty event");
        }
        catch (JsonException ex)
        {
            throw FabricException.Unavailable($"the event stream of the fabric's API at {BaseUrl} sent an event that is not a FleetEvent: {ex.Message}");
        }
    }

    private static async Task DelayQuietly(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The loop sees the cancellation.
        }
    }

    /// <summary>Whole lines out of <paramref name="pending"/> (which keeps the unfinished rest); an overlong line in pieces.</summary>
    private static List<string> TakeLines(StringBuilder pending)
    {
        var text = pending.ToString();
        var start = 0;
        int newline;
        var lines = new List<string>();
        while ((newline = text.IndexOf('\n', start)) >= 0)
        {
            lines.Add(text[start..newline].TrimEnd('\r'));
            start = newline + 1;
        }

        while (text.Length - start > MaxConsoleLineChars)
        {
            lines.Add(text.Substring(start, MaxConsoleLineChars));
            start += MaxConsoleLineChars;
        }

        pending.Remove(0, start);
        return lines;
    }

    /// <summary>The body of a console send: <c>{"line": …}</c>.</summary>
    internal sealed record LineBody(string Line);
}
