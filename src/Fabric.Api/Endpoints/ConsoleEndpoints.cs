using System.Net.WebSockets;
using System.Text;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary>
/// A VM's serial console: long-polled reads, typed lines, and a WebSocket carrying both. The console is a root shell in
/// the <c>linux</c> guest, so all of it needs an operator of the VM's project, and each session and typed line is
/// audited (never the text typed, which may hold a password).
/// </summary>
internal static class ConsoleEndpoints
{
    private const int ChunkBytes = 64 * 1024;
    private static readonly TimeSpan FollowWait = TimeSpan.FromSeconds(5);

    public static void Map(RouteGroupBuilder v1)
    {
        var console = v1.MapGroup("/vms/{vm}/console").WithTags("Consoles");
        console.MapGet("/", Read).WithName("vm.console.read")
            .WithSummary("The console log from offset, waiting up to wait ms for more; as a WebSocket: the console live (console bytes out as binary frames; each text frame in is typed).");
        console.MapPost("/", Send).WithName("vm.console.send").WithSummary("Types a line into the console.");
    }

    private static async Task<IResult> Read(HttpContext context, FabricClient fabric, [FromServices] IAuditLog audit, string vm, long? offset, int? wait)
    {
        var info = await VmEndpoints.Authorize(context, fabric, vm, Role.Operator, "read the console of");
        if (context.WebSockets.IsWebSocketRequest)
        {
            await AuditTrail.RecordAsync(audit, context, "vm.console.session", $"vms/{vm}/console", info.Project, "ok");
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await RunSessionAsync(socket, fabric, vm, context.RequestAborted);
            return Results.Empty;
        }

        if (wait is < 0 or > 60_000)
        {
            throw FabricException.InvalidSpec("wait", $"{wait} is not a number of milliseconds in 0–60000");
        }

        return Results.Ok(await fabric.ReadConsoleAsync(vm, offset ?? 0, ChunkBytes, TimeSpan.FromMilliseconds(wait ?? 0)));
    }

    private static async Task<IResult> Send(HttpContext context, FabricClient fabric, string vm, ConsoleLine body)
    {
        await VmEndpoints.Authorize(context, fabric, vm, Role.Operator, "type into the console of");
        var line = RequireLine(body?.Line);
        await fabric.SendConsoleAsync(vm, line);
        return Results.NoContent();
    }

    private static string RequireLine(string? line)
    {
        if (line is null)
        {
            throw FabricException.InvalidSpec("line", "is required");
        }

        if (Encoding.UTF8.GetByteCount(line) > ConsoleLine.MaxBytes)
        {
            throw FabricException.InvalidSpec("line", $"is longer than {ConsoleLine.MaxBytes} bytes");
        }

        return line;
    }

    /// <summary>Pumps console output to the socket and typed frames into the console until either side closes.</summary>
    private static async Task RunSessionAsync(WebSocket socket, FabricClient fabric, string vm, CancellationToken aborted)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var output = PumpOutputAsync(socket, fabric, vm, session.Token);
        var buffer = new byte[ConsoleLine.MaxBytes];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var received = await socket.ReceiveAsync(buffer, session.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    break;
                }

                if (!received.EndOfMessage)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, $"a line is at most {ConsoleLine.MaxBytes} bytes", session.Token);
                    break;
                }

                await fabric.SendConsoleAsync(vm, Encoding.UTF8.GetString(buffer, 0, received.Count).TrimEnd('\n', '\r'));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The client went away: the session ends.
        }
        finally
        {
            await session.CancelAsync();
            await output;
        }
    }

    private static async Task PumpOutputAsync(WebSocket socket, FabricClient fabric, string vm, CancellationToken cancellationToken)
    {
        var offset = 0L;
        try
        {
            while (!cancellationToken.IsCancellationRequested && socket.State == WebSocketState.Open)
            {
                var chunk = await fabric.ReadConsoleAsync(vm, offset, ChunkBytes, FollowWait);
                offset = chunk.NextOffset;
                if (chunk.Data.Length > 0)
                {
                    await socket.SendAsync(chunk.Data, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or FabricException)
        {
            // The session ended, or the VM went away: nothing more to send.
        }
    }
}
