using Fabric.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Fabric.Api;

/// <summary>
/// Errors as RFC 9457 problem details: <c>code</c> is the fabric error code, <c>detail</c> the message naming the field or
/// object at fault, <c>status</c> the HTTP status the code maps to.
/// </summary>
public static class Problems
{
    /// <summary>Where a failed request's error code is left for the audit trail.</summary>
    public const string ErrorCodeKey = "fabric.error";

    public static int StatusOf(string code) => code switch
    {
        ErrorCodes.InvalidSpec => StatusCodes.Status400BadRequest,
        ErrorCodes.Unauthenticated => StatusCodes.Status401Unauthorized,
        ErrorCodes.Forbidden or ErrorCodes.InsufficientQuota => StatusCodes.Status403Forbidden,
        ErrorCodes.NotFound => StatusCodes.Status404NotFound,
        ErrorCodes.Conflict or ErrorCodes.InsufficientCapacity => StatusCodes.Status409Conflict,
        ErrorCodes.HypervisorError => StatusCodes.Status502BadGateway,
        ErrorCodes.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static ProblemDetails For(FabricException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var problem = new ProblemDetails
        {
            Type = $"https://github.com/fabric/fabric/blob/main/docs/api.md#{error.Code}",
            Title = error.Code,
            Status = StatusOf(error.Code),
            Detail = error.Message,
        };
        problem.Extensions["code"] = error.Code;
        return problem;
    }

    public static async Task WriteAsync(HttpContext context, FabricException error)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Items[ErrorCodeKey] = error.Code;
        if (context.Response.HasStarted)
        {
            return;
        }

        var problem = For(error);
        context.Response.StatusCode = problem.Status!.Value;
        await context.Response.WriteAsJsonAsync(problem, ApiJson.Compact, contentType: "application/problem+json", context.RequestAborted);
    }
}
