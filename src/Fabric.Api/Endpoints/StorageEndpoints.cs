using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fabric.Api.Endpoints;

/// <summary>
/// <c>/v1/pools</c>, <c>/v1/volumes</c>, <c>/v1/images</c>: the fleet's storage, readable by every caller and changed
/// only by an admin (pools and volumes belong to no project yet).
/// </summary>
internal static class StorageEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        var pools = v1.MapGroup("/pools").WithTags("Storage");
        pools.MapGet("/", (FabricClient f) => f.ListPoolsAsync()).WithName("pool.list").WithSummary("The storage pools.");
        pools.MapGet("/{pool}", (FabricClient f, string pool) => f.GetPoolAsync(pool)).WithName("pool.get").WithSummary("One pool.");
        pools.MapPost("/", async (HttpContext c, FabricClient f, PoolSpec spec) =>
        {
            c.Caller().RequireAdmin("create a pool");
            var pool = await f.CreatePoolAsync(spec ?? throw FabricException.InvalidSpec("body", "a pool spec is required"));
            return Results.Created($"/v1/pools/{Uri.EscapeDataString(pool.Name)}", pool);
        }).WithName("pool.create").WithSummary("Creates a pool.");
        pools.MapDelete("/{pool}", async (HttpContext c, FabricClient f, string pool) =>
        {
            c.Caller().RequireAdmin("delete a pool");
            await f.DeletePoolAsync(pool);
            return Results.NoContent();
        }).WithName("pool.delete").WithSummary("Deletes an empty pool.");

        var volumes = v1.MapGroup("/volumes").WithTags("Storage");
        volumes.MapGet("/", (FabricClient f, string? pool) => f.ListVolumesAsync(pool)).WithName("volume.list").WithSummary("The volumes, of one pool or all.");
        volumes.MapGet("/{pool}/{volume}", (FabricClient f, string pool, string volume) => f.GetVolumeAsync(pool, volume)).WithName("volume.get").WithSummary("One volume.");
        volumes.MapPost("/{pool}", async (HttpContext c, FabricClient f, string pool, VolumeSpec spec) =>
        {
            c.Caller().RequireAdmin("create a volume");
            var volume = await f.CreateVolumeAsync(pool, spec ?? throw FabricException.InvalidSpec("body", "a volume spec is required"));
            return Results.Created($"/v1/volumes/{Uri.EscapeDataString(pool)}/{Uri.EscapeDataString(volume.Name)}", volume);
        }).WithName("volume.create").WithSummary("Creates a volume (thin, or a linked clone of an image).");
        volumes.MapPost("/{pool}/{volume}/resize", async (HttpContext c, FabricClient f, string pool, string volume, VolumeResize body) =>
        {
            c.Caller().RequireAdmin("resize a volume");
            return Results.Ok(await f.ResizeVolumeAsync(pool, volume, body?.SizeBytes ?? throw FabricException.InvalidSpec("sizeBytes", "is required")));
        }).WithName("volume.resize").WithSummary("Grows a volume.");
        volumes.MapDelete("/{pool}/{volume}", async (HttpContext c, FabricClient f, string pool, string volume) =>
        {
            c.Caller().RequireAdmin("delete a volume");
            await f.DeleteVolumeAsync(pool, volume);
            return Results.NoContent();
        }).WithName("volume.delete").WithSummary("Deletes a detached volume.");

        var images = v1.MapGroup("/images").WithTags("Storage");
        images.MapGet("/", (FabricClient f, string? pool) => f.ListImagesAsync(pool)).WithName("image.list").WithSummary("The imported images, of one pool or all.");
        images.MapPost("/{pool}", async (HttpContext c, FabricClient f, string pool, ImageImport body) =>
        {
            c.Caller().RequireAdmin("import an image");
            var image = await f.ImportImageAsync(pool, body?.Name ?? "", body?.File ?? throw FabricException.InvalidSpec("file", "is required"));
            return Results.Created($"/v1/images/{Uri.EscapeDataString(pool)}/{Uri.EscapeDataString(image.Name)}", image);
        }).WithName("image.import").WithSummary("Imports an image file into a pool.");
        images.MapDelete("/{pool}/{image}", async (HttpContext c, FabricClient f, string pool, string image) =>
        {
            c.Caller().RequireAdmin("delete an image");
            await f.DeleteImageAsync(pool, image);
            return Results.NoContent();
        }).WithName("image.delete").WithSummary("Deletes an image no volume uses.");
    }
}
