using Fabric.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Fabric.Api;

/// <summary>
/// Turns every failure of a request into a problem detail: a <see cref="FabricException"/> keeps its code; a malformed
/// or oversized body is <c>invalid-spec</c>; a fabric that does not answer in time is <c>unavailable</c>; anything else
/// is logged and answered as a 500 without its details (which may name internals).
/// </summary>
internal sealed partial class ErrorResponses(RequestDelegate next, ILogger<ErrorResponses> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);

            // A body the endpoint could not read (too large, or not JSON) leaves a bare status behind: say why.
            if (!context.Response.HasStarted && context.Response.StatusCode is StatusCodes.Status413PayloadTooLarge or StatusCodes.Status415UnsupportedMediaType)
            {
                await Problems.WriteAsync(context, FabricException.InvalidSpec("body", context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? $"is larger than {ApiOptions.MaxBodyBytes} bytes"
                    : "must be JSON (Content-Type: application/json)"));
            }
        }
        catch (FabricException ex)
        {
            await Problems.WriteAsync(context, ex);
        }
        catch (BadHttpRequestException ex)
        {
            var reason = ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? $"is larger than {ApiOptions.MaxBodyBytes} bytes" : ex.Message;
            await Problems.WriteAsync(context, FabricException.InvalidSpec("body", reason));
        }
        catch (Exception ex) when (ex is TimeoutException or TaskCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            await Problems.WriteAsync(context, FabricException.Unavailable("the fabric did not answer in time"));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception ex)
        {
            Log.Failed(logger, context.Request.Method, context.Request.Path, ex);
            await Problems.WriteAsync(context, new FabricException("internal", "the request failed inside the fabric; its silo's log has the details"));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "{Method} {Path} failed")]
        public static partial void Failed(ILogger logger, string method, PathString path, Exception exception);
    }
}
