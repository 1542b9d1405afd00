using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary>
/// <c>/v1/whoami</c>, <c>/v1/projects</c>, <c>/v1/tokens</c>, <c>/v1/audit</c>: who may do what. Projects are read by
/// their members and changed by an admin; tokens and the audit trail are an admin's alone.
/// </summary>
internal static class AccessEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet("/whoami", (HttpContext c) => Results.Ok(c.Caller().Token)).WithTags("Access").WithName("whoami").WithSummary("The caller's token (never its secret).");

        var projects = v1.MapGroup("/projects").WithTags("Access");
        projects.MapGet("/", async (HttpContext c, IGrainFactory g) =>
        {
            var caller = c.Caller();
            var all = await g.GetGrain<IProjectDirectoryGrain>(0).List();
            return Results.Ok(all.Where(p => caller.CanSee(p.Name)).ToImmutableArray());
        }).WithName("project.list").WithSummary("The caller's projects (every project, for an admin), with quota and usage.");
        projects.MapGet("/{project}", async (HttpContext c, IGrainFactory g, string project) =>
        {
            c.InProject(project);
            c.Caller().Require(Role.Viewer, project, $"read project '{project}'");
            return Results.Ok(await g.GetGrain<IProjectGrain>(Names.Require("project", project)).Get());
        }).WithName("project.get").WithSummary("One project, with quota and usage.");
        projects.MapPost("/", async (HttpContext c, IGrainFactory g, ProjectRequest body) =>
        {
            c.Caller().RequireAdmin("create a project");
            var name = Names.Require("name", body?.Name);
            c.InProject(name);
            var created = await g.GetGrain<IProjectGrain>(name).Create((body!.Quota ?? ProjectQuota.Unlimited).Validate());
            return Results.Created($"/v1/projects/{Uri.EscapeDataString(name)}", created);
        }).WithName("project.create").WithSummary("Creates a project, optionally with a quota.");
        projects.MapPut("/{project}/quota", async (HttpContext c, IGrainFactory g, string project, ProjectQuota quota) =>
        {
            c.InProject(project);
            c.Caller().RequireAdmin("set a project's quota");
            return Results.Ok(await g.GetGrain<IProjectGrain>(Names.Require("project", project)).SetQuota((quota ?? ProjectQuota.Unlimited).Validate()));
        }).WithName("project.quota").WithSummary("Replaces a project's quota (null limits are unlimited).");
        projects.MapDelete("/{project}", async (HttpContext c, IGrainFactory g, string project) =>
        {
            c.InProject(project);
            c.Caller().RequireAdmin("delete a project");
            await g.GetGrain<IProjectGrain>(Names.Require("project", project)).Delete();
            return Results.NoContent();
        }).WithName("project.delete").WithSummary("Deletes a project that has no VMs.");

        var tokens = v1.MapGroup("/tokens").WithTags("Access");
        tokens.MapGet("/", async (HttpContext c, IGrainFactory g) =>
        {
            c.Caller().RequireAdmin("list tokens");
            return Results.Ok(await g.GetGrain<ITokenDirectoryGrain>(0).List());
        }).WithName("token.list").WithSummary("Every token (never a secret).");
        tokens.MapPost("/", async (HttpContext c, IGrainFactory g, TokenRequest request) =>
        {
            c.Caller().RequireAdmin("create a token");
            var issued = await g.GetGrain<ITokenDirectoryGrain>(0).Create(request ?? throw FabricException.InvalidSpec("body", "a token request is required"));
            c.InProject(issued.Info.Project);
            return Results.Created($"/v1/tokens/{issued.Info.Id}", issued);
        }).WithName("token.create").WithSummary("Creates a token; the answer holds its secret, shown this once.");
        tokens.MapDelete("/{id}", async (HttpContext c, IGrainFactory g, string id) =>
        {
            c.Caller().RequireAdmin("revoke a token");
            var revoked = await g.GetGrain<ITokenDirectoryGrain>(0).Revoke(id);
            c.InProject(revoked.Project);
            return Results.Ok(revoked);
        }).WithName("token.revoke").WithSummary("Revokes a token, at once.");

        v1.MapGet("/audit", async (HttpContext c, [FromServices] IAuditLog audit, DateTimeOffset? since, string? project, string? user, int? limit) =>
        {
            c.Caller().RequireAdmin("read the audit trail");
            return Results.Ok(await audit.QueryAsync(new AuditQuery { Since = since, Project = project, User = user, Limit = limit ?? 1000 }));
        }).WithTags("Access").WithName("audit.list").WithSummary("The audit trail, oldest first: since a time, of a project or a user.");
    }
}
