using System.Collections.Immutable;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Fabric.Api.Endpoints;

/// <summary>
/// <c>/v1/hosts</c>: any caller reads the fleet's hosts, but only an admin sees what other projects run on them (the VM
/// names and groups of a host are cut to the caller's own); only an admin changes a host.
/// </summary>
internal static partial class HostEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var hosts = v1.MapGroup("/hosts").WithTags("Hosts");
        hosts.MapGet("/", List).WithName("host.list").WithSummary("The fleet's hosts.");
        hosts.MapGet("/{host}", Get).WithName("host.get").WithSummary("One host.");
        hosts.MapPost("/{host}/cordon", (HttpContext c, FabricClient f, string host) => Change(c, () => f.CordonHostAsync(host), "cordon")).WithName("host.cordon").WithSummary("Stops placing VMs on the host.");
        hosts.MapPost("/{host}/uncordon", (HttpContext c, FabricClient f, string host) => Change(c, () => f.UncordonHostAsync(host), "uncordon")).WithName("host.uncordon").WithSummary("Places VMs on the host again.");
        hosts.MapPost("/{host}/drain", Drain).WithName("host.drain").WithSummary("Cordons the host and live-migrates its VMs away; returns at once, the drain runs on.");
        hosts.MapDelete("/{host}", Forget).WithName("host.forget").WithSummary("Forgets a Down host.");
    }

    private static async Task<IResult> List(HttpContext context, FabricClient fabric)
    {
        var hosts = await fabric.ListHostsAsync();
        var visible = await VisibleVmsAsync(context, fabric);
        return Results.Ok(hosts.Select(h => ForCaller(h, visible)).ToImmutableArray());
    }

    private static async Task<IResult> Get(HttpContext context, FabricClient fabric, string host) =>
        Results.Ok(ForCaller(await fabric.GetHostAsync(host), await VisibleVmsAsync(context, fabric)));

    private static async Task<IResult> Change(HttpContext context, Func<Task<HostInfo>> change, string what)
    {
        context.Caller().RequireAdmin($"{what} a host");
        return Results.Ok(await change());
    }

    private static async Task<IResult> Drain(HttpContext context, FabricClient fabric, ILogger<FabricClient> logger, string host)
    {
        context.Caller().RequireAdmin("drain a host");
        var cordoned = await fabric.CordonHostAsync(host);

        // The drain outlives the request: it migrates VM after VM, and the host's state and VMs show its progress.
        _ = Task.Run(async () =>
        {
            try
            {
                var results = await fabric.DrainHostAsync(host);
                Log.Drained(logger, host, results.Count(r => r.Moved), results.Length);
            }
            catch (Exception ex)
            {
                Log.DrainFailed(logger, host, ex);
            }
        });
        return Results.Accepted($"/v1/hosts/{Uri.EscapeDataString(host)}", cordoned);
    }

    private static async Task<IResult> Forget(HttpContext context, FabricClient fabric, string host)
    {
        context.Caller().RequireAdmin("forget a host");
        await fabric.ForgetHostAsync(host);
        return Results.NoContent();
    }

    /// <summary>The names of the VMs the caller may see, or null for an admin (who sees all).</summary>
    private static async Task<HashSet<string>?> VisibleVmsAsync(HttpContext context, FabricClient fabric)
    {
        var caller = context.Caller();
        return caller.IsAdmin ? null : (await fabric.ListVmsAsync()).Where(v => caller.CanSee(v.Project)).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
    }

    private static HostInfo ForCaller(HostInfo host, HashSet<string>? visible) => visible is null ? host : host with
    {
        Vms = [.. host.Vms.Where(visible.Contains)],
        AntiAffinityGroups = [],
        AffinityGroups = [],
        Unmanaged = [],
        Networks = [],
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "drain of {Host}: {Moved} of {Total} VMs moved")]
        public static partial void Drained(ILogger logger, string host, int moved, int total);

        [LoggerMessage(2, LogLevel.Warning, "drain of {Host} failed")]
        public static partial void DrainFailed(ILogger logger, string host, Exception exception);
    }
}
