using System.Collections.Immutable;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary>
/// <c>/v1/vms</c>: every VM route checks the caller's role in the VM's project before it acts; a VM of another project
/// is <c>forbidden</c>, and lists hold only the caller's projects.
/// </summary>
internal static class VmEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var vms = v1.MapGroup("/vms").WithTags("VMs");
        vms.MapGet("/", List).WithName("vm.list").WithSummary("The VMs of the caller's projects, optionally by label selector (k=v,k2=v2).");
        vms.MapPost("/", Create).WithName("vm.create").WithSummary("Creates and places a VM (its project: the spec's, else the caller's).");
        vms.MapGet("/{vm}", Get).WithName("vm.get").WithSummary("One VM; with state and wait, once it is in one of the states (or as it is when the wait ends).");
        vms.MapDelete("/{vm}", Delete).WithName("vm.delete").WithSummary("Deletes a VM (force: also when its host is Down).");
        vms.MapPost("/{vm}/start", (HttpContext c, FabricClient f, string vm) => Act(c, f, vm, "start", () => f.StartVmAsync(vm))).WithName("vm.start").WithSummary("Starts a VM.");
        vms.MapPost("/{vm}/pause", (HttpContext c, FabricClient f, string vm) => Act(c, f, vm, "pause", () => f.PauseVmAsync(vm))).WithName("vm.pause").WithSummary("Pauses a running VM.");
        vms.MapPost("/{vm}/resume", (HttpContext c, FabricClient f, string vm) => Act(c, f, vm, "resume", () => f.ResumeVmAsync(vm))).WithName("vm.resume").WithSummary("Resumes a paused VM.");
        vms.MapPost("/{vm}/reboot", (HttpContext c, FabricClient f, string vm) => Act(c, f, vm, "reboot", () => f.RebootVmAsync(vm))).WithName("vm.reboot").WithSummary("Resets a VM's guest.");
        vms.MapPost("/{vm}/stop", Stop).WithName("vm.stop").WithSummary("Stops a VM (force: at once; grace: seconds for the guest to power off; wait=false: returns while it stops).");
        vms.MapPost("/{vm}/migrate", Migrate).WithName("vm.migrate").WithSummary("Starts a live migration; follow it at /v1/vms/{vm}/migration.");
        vms.MapGet("/{vm}/migration", GetMigration).WithName("vm.migration.get").WithSummary("The VM's latest migration; with after=VERSION, waits for a newer one.");
        vms.MapDelete("/{vm}/migration", CancelMigration).WithName("vm.migration.cancel").WithSummary("Cancels the VM's migration.");
        vms.MapGet("/{vm}/snapshots", ListSnapshots).WithName("vm.snapshot.list").WithSummary("The VM's snapshots.");
        vms.MapPost("/{vm}/snapshots", CreateSnapshot).WithName("vm.snapshot.create").WithSummary("Snapshots the VM with its memory.");
        vms.MapPost("/{vm}/snapshots/{snapshot}/restore", RestoreSnapshot).WithName("vm.snapshot.restore").WithSummary("Restores the VM to a snapshot.");
        vms.MapDelete("/{vm}/snapshots/{snapshot}", DeleteSnapshot).WithName("vm.snapshot.delete").WithSummary("Deletes a snapshot.");
        vms.MapPost("/{vm}/disks", AttachDisk).WithName("vm.disk.attach").WithSummary("Attaches a volume.");
        vms.MapDelete("/{vm}/disks/{pool}/{volume}", DetachDisk).WithName("vm.disk.detach").WithSummary("Detaches a volume.");
        vms.MapPost("/{vm}/nics", AttachNic).WithName("vm.nic.attach").WithSummary("Adds a NIC on a network (hot-plugged when running).");
        vms.MapDelete("/{vm}/nics/{network}", DetachNic).WithName("vm.nic.detach").WithSummary("Removes the VM's NIC on a network.");
    }

    /// <summary>The VM, once the caller is known to hold <paramref name="role"/> in its project.</summary>
    internal static async Task<VmInfo> Authorize(HttpContext context, FabricClient fabric, string vm, Role role, string what)
    {
        var info = await fabric.GetVmAsync(vm);
        context.InProject(info.Project);
        context.Caller().Require(role, info.Project, $"{what} vm '{vm}'");
        return info;
    }

    private static async Task<IResult> List(HttpContext context, FabricClient fabric, string? selector)
    {
        var parsed = string.IsNullOrEmpty(selector) ? null : LabelSelector.Parse("selector", selector);
        var caller = context.Caller();
        var vms = await fabric.ListVmsAsync(parsed);
        return Results.Ok(vms.Where(v => caller.CanSee(v.Project)).ToImmutableArray());
    }

    private static async Task<IResult> Create(HttpContext context, FabricClient fabric, VmSpec spec)
    {
        var caller = context.Caller();
        if (spec is null)
        {
            throw FabricException.InvalidSpec("body", "a VM spec is required");
        }

        // A spec without a project goes to the caller's ("default" for an admin, whose token names none in effect).
        var project = string.IsNullOrEmpty(spec.Project) || (spec.Project == ProjectInfo.Default && !caller.IsAdmin) ? caller.DefaultProject : spec.Project;
        context.InProject(project);
        caller.Require(Role.Operator, project, $"create vm '{spec.Name}'");
        var created = await fabric.CreateVmAsync(spec with { Project = project });
        return Results.Created($"/v1/vms/{Uri.EscapeDataString(created.Name)}", created);
    }

    private static async Task<IResult> Get(HttpContext context, FabricClient fabric, string vm, string? state, double? wait)
    {
        var info = await Authorize(context, fabric, vm, Role.Viewer, "read");
        if (string.IsNullOrEmpty(state))
        {
            return Results.Ok(info);
        }

        var states = state.Split(',').Select(s => Enum.TryParse<VmState>(s, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
            ? parsed
            : throw FabricException.InvalidSpec("state", $"'{Names.Printable(s)}' is not a VM state")).ToArray();
        return Results.Ok(await fabric.WaitForVmAsync(vm, states, ApiRequest.Wait(wait), context.RequestAborted));
    }

    private static async Task<IResult> Delete(HttpContext context, FabricClient fabric, string vm, bool? force)
    {
        await Authorize(context, fabric, vm, Role.Operator, "delete");
        await fabric.DeleteVmAsync(vm, new DeleteOptions { Force = force ?? false });
        return Results.NoContent();
    }

    private static async Task<IResult> Act(HttpContext context, FabricClient fabric, string vm, string what, Func<Task<VmInfo>> action)
    {
        await Authorize(context, fabric, vm, Role.Operator, what);
        return Results.Ok(await action());
    }

    private static async Task<IResult> Stop(HttpContext context, FabricClient fabric, string vm, bool? force, bool? wait, double? grace)
    {
        await Authorize(context, fabric, vm, Role.Operator, "stop");
        var options = new StopOptions { Force = force ?? false, GracePeriod = grace is null ? StopOptions.DefaultGracePeriod : ApiRequest.Wait(grace, "grace") };
        return Results.Ok(await fabric.StopVmAsync(vm, options, wait ?? true, context.RequestAborted));
    }

    private static async Task<IResult> Migrate(HttpContext context, FabricClient fabric, string vm, MigrationRequest? request)
    {
        await Authorize(context, fabric, vm, Role.Operator, "migrate");
        var migration = await fabric.MigrateVmAsync(vm, request ?? new MigrationRequest());
        return Results.Accepted($"/v1/vms/{Uri.EscapeDataString(vm)}/migration", migration);
    }

    private static async Task<IResult> GetMigration(HttpContext context, FabricClient fabric, string vm, long? after, double? wait)
    {
        await Authorize(context, fabric, vm, Role.Viewer, "read the migration of");
        return Results.Ok(after is { } version
            ? await fabric.WaitForMigrationChangeAsync(vm, version, ApiRequest.Wait(wait))
            : await fabric.GetMigrationAsync(vm));
    }

    private static async Task<IResult> CancelMigration(HttpContext context, FabricClient fabric, string vm)
    {
        await Authorize(context, fabric, vm, Role.Operator, "cancel the migration of");
        return Results.Ok(await fabric.CancelMigrationAsync(vm));
    }

    private static async Task<IResult> ListSnapshots(HttpContext context, FabricClient fabric, string vm)
    {
        await Authorize(context, fabric, vm, Role.Viewer, "list the snapshots of");
        return Results.Ok(await fabric.ListSnapshotsAsync(vm));
    }

    private static async Task<IResult> CreateSnapshot(HttpContext context, FabricClient fabric, string vm, SnapshotRequest request)
    {
        await Authorize(context, fabric, vm, Role.Operator, "snapshot");
        var snapshot = await fabric.CreateSnapshotAsync(vm, request?.Name ?? throw FabricException.InvalidSpec("name", "a snapshot name is required"));
        return Results.Created($"/v1/vms/{Uri.EscapeDataString(vm)}/snapshots/{Uri.EscapeDataString(snapshot.Name)}", snapshot);
    }

    private static async Task<IResult> RestoreSnapshot(HttpContext context, FabricClient fabric, string vm, string snapshot)
    {
        await Authorize(context, fabric, vm, Role.Operator, "restore");
        return Results.Ok(await fabric.RestoreSnapshotAsync(vm, snapshot));
    }

    private static async Task<IResult> DeleteSnapshot(HttpContext context, FabricClient fabric, string vm, string snapshot)
    {
        await Authorize(context, fabric, vm, Role.Operator, "delete a snapshot of");
        await fabric.DeleteSnapshotAsync(vm, snapshot);
        return Results.NoContent();
    }

    private static async Task<IResult> AttachDisk(HttpContext context, FabricClient fabric, string vm, DiskAttachment attachment)
    {
        await Authorize(context, fabric, vm, Role.Operator, "attach a disk to");
        return Results.Ok(await fabric.AttachVolumeAsync(vm, attachment?.Pool ?? "", attachment?.Volume ?? ""));
    }

    private static async Task<IResult> DetachDisk(HttpContext context, FabricClient fabric, string vm, string pool, string volume)
    {
        await Authorize(context, fabric, vm, Role.Operator, "detach a disk from");
        return Results.Ok(await fabric.DetachVolumeAsync(vm, pool, volume));
    }

    private static async Task<IResult> AttachNic(HttpContext context, FabricClient fabric, string vm, NicAttachment attachment)
    {
        await Authorize(context, fabric, vm, Role.Operator, "attach a NIC to");
        return Results.Ok(await fabric.AttachNicAsync(vm, new NicRequest { Network = attachment?.Network ?? "", Ip = attachment?.Ip }));
    }

    private static async Task<IResult> DetachNic(HttpContext context, FabricClient fabric, string vm, string network)
    {
        await Authorize(context, fabric, vm, Role.Operator, "detach a NIC from");
        return Results.Ok(await fabric.DetachNicAsync(vm, new NicRequest { Network = network }));
    }
}
