using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Fabric.Api;

/// <summary>
/// Records every mutating request (any method but GET and HEAD), whether it succeeded or not, once its answer is known:
/// who (the token's user and id, or <c>anonymous</c>), the project of its target, the action (the route's name), the
/// target (its path under <c>/v1/</c>), the result (<c>ok</c> or the error code) and the client's address. The rows never
/// hold a request body, so no secret typed or sent reaches them.
/// </summary>
internal sealed partial class AuditTrail(RequestDelegate next, IAuditLog audit, ILogger<AuditTrail> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || !context.Request.Path.StartsWithSegments("/v1", out var target))
        {
            await next(context);
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            var result = context.Items[Problems.ErrorCodeKey] as string
                ?? (context.Response.StatusCode < 400 ? "ok" : $"http-{context.Response.StatusCode}");
            var action = context.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? $"{context.Request.Method} {target}";
            try
            {
                await RecordAsync(audit, context, action, target.Value!.TrimStart('/'), context.Items[ApiRequest.ProjectKey] as string, result);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The action happened; a trail that cannot be written is an operator's alarm, not the caller's error.
                Log.AuditFailed(logger, action, ex);
            }
        }
    }

    /// <summary>Appends one row for the request in <paramref name="context"/>.</summary>
    public static Task RecordAsync(IAuditLog audit, HttpContext context, string action, string target, string? project, string result)
    {
        var caller = Security.TokenAuthenticationHandler.TryCallerOf(context);
        return audit.AppendAsync(new AuditEntry
        {
            At = DateTimeOffset.UtcNow,
            User = caller?.User ?? "anonymous",
            TokenId = caller?.Token.Id,
            Project = project,
            Action = action,
            Target = target,
            Result = result,
            Source = context.Connection.RemoteIpAddress?.ToString(),
        });
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "the audit trail could not record {Action}")]
        public static partial void AuditFailed(ILogger logger, string action, Exception exception);
    }
}
