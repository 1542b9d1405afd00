using Fabric.Api.Security;
using Fabric.Contracts;
using Microsoft.AspNetCore.Http;

namespace Fabric.Api;

/// <summary>What the endpoints share about one request: its caller, and the project its target belongs to (for the audit trail).</summary>
internal static class ApiRequest
{
    public const string ProjectKey = "fabric.project";

    /// <summary>The longest a request may ask to wait (<c>?wait=</c>).</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);

    public static Caller Caller(this HttpContext context) => TokenAuthenticationHandler.CallerOf(context);

    /// <summary>Records the project the request's target belongs to.</summary>
    public static void InProject(this HttpContext context, string project) => context.Items[ProjectKey] = project;

    /// <summary>A <c>?wait=</c> value in seconds, bounded by <see cref="MaxWait"/>; <c>invalid-spec</c> naming it when malformed.</summary>
    public static TimeSpan Wait(double? seconds, string field = "wait")
    {
        if (seconds is null)
        {
            return TimeSpan.Zero;
        }

        if (double.IsNaN(seconds.Value) || seconds < 0 || seconds > MaxWait.TotalSeconds)
        {
            throw FabricException.InvalidSpec(field, $"{seconds} is not a number of seconds in 0–{MaxWait.TotalSeconds:0}");
        }

        return TimeSpan.FromSeconds(seconds.Value);
    }
}
