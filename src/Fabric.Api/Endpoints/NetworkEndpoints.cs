using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary><c>/v1/networks</c>: virtual networks, readable by every caller, changed only by an admin.</summary>
internal static class NetworkEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var networks = v1.MapGroup("/networks").WithTags("Networks");
        networks.MapGet("/", (FabricClient f) => f.ListNetworksAsync()).WithName("net.list").WithSummary("The virtual networks.");
        networks.MapGet("/{network}", (FabricClient f, string network) => f.GetNetworkAsync(network)).WithName("net.get").WithSummary("One network with its NICs, hosts and rules.");
        networks.MapPost("/", async (HttpContext c, FabricClient f, NetworkSpec spec) =>
        {
            c.Caller().RequireAdmin("create a network");
            var network = await f.CreateNetworkAsync(spec ?? throw FabricException.InvalidSpec("body", "a network spec is required"));
            return Results.Created($"/v1/networks/{Uri.EscapeDataString(network.Name)}", network);
        }).WithName("net.create").WithSummary("Creates a network.");
        networks.MapDelete("/{network}", async (HttpContext c, FabricClient f, string network) =>
        {
            c.Caller().RequireAdmin("delete a network");
            await f.DeleteNetworkAsync(network);
            return Results.NoContent();
        }).WithName("net.delete").WithSummary("Deletes a network no NIC is on.");
        networks.MapPost("/{network}/rules", async (HttpContext c, FabricClient f, string network, NetworkRule rule) =>
        {
            c.Caller().RequireAdmin("change a network's rules");
            return Results.Ok(await f.AddNetworkRuleAsync(network, rule ?? throw FabricException.InvalidSpec("body", "a rule is required")));
        }).WithName("net.rule.add").WithSummary("Adds an allow rule.");
        networks.MapDelete("/{network}/rules/{rule:int}", async (HttpContext c, FabricClient f, string network, int rule) =>
        {
            c.Caller().RequireAdmin("change a network's rules");
            await f.RemoveNetworkRuleAsync(network, rule);
            return Results.NoContent();
        }).WithName("net.rule.remove").WithSummary("Removes an allow rule.");
    }
}
