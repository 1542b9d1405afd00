using System.CommandLine;
using System.Globalization;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;
using static Fabric.Cli.Commands.CommandResults;

namespace Fabric.Cli.Commands;

/// <summary><c>fabricctl pool …</c>, <c>volume …</c> and <c>image …</c>.</summary>
internal static class StorageCommands
{
    public static IEnumerable<Command> Create(GlobalOptions global, CliIo io) => [Pool(global, io), Volume(global, io), Image(global, io)];

    private static Command Pool(GlobalOptions global, CliIo io)
    {
        var pool = new Command("pool", "Storage pools: where volumes and images live");
        var name = NameArgument("POOL", "pool");
        var type = new Option<PoolType>("--type") { Description = "local (a directory on each host) or shared (one directory every host sees)", HelpName = "local|shared", Required = true, CustomParser = r => Parsers.Parse(r, PoolTypeOf) };
        var path = new Option<string>("--path") { Description = "The pool's directory (absolute)", HelpName = "DIR", Required = true, CustomParser = r => Parsers.Parse(r, text => StoragePaths.RequireAbsolute("path", text)) ?? "" };
        var capacity = new Option<long?>("--capacity") { Description = "Capacity (default: the size of the file system holding the pool)", HelpName = "SIZE", CustomParser = r => Parsers.Parse<long?>(r, text => Sizes.ParseBytes("capacity", text)) };
        var overcommit = new Option<double?>("--overcommit") { Description = $"How far virtual sizes may exceed capacity (default {PoolSpec.DefaultOvercommit})", HelpName = "R", CustomParser = r => Parsers.Parse<double?>(r, text => Ratio("overcommit", text)) };
        var quota = new Option<long?>("--quota-per-vm") { Description = "The most one VM may hold in this pool", HelpName = "SIZE", CustomParser = r => Parsers.Parse<long?>(r, text => Sizes.ParseBytes("quota-per-vm", text)) };
        var create = new Command("create", "Create a pool") { name, type, path, capacity, overcommit, quota };
        create.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var created = await client.CreatePoolAsync(new PoolSpec
            {
                Name = context.Get(name)!,
                Type = context.Get(type),
                Path = context.Get(path)!,
                CapacityBytes = context.Get(capacity),
                Overcommit = context.Get(overcommit) ?? PoolSpec.DefaultOvercommit,
                QuotaPerVmBytes = context.Get(quota),
            });
            return await WriteAsync(context, created, StorageOutput.Pool);
        });
        pool.Subcommands.Add(create);

        var getName = NameArgument("POOL", "pool");
        var get = new Command("get", "One pool: capacity, allocation (virtual), use measured from its files") { getName };
        get.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).GetPoolAsync(context.Get(getName)!), StorageOutput.Pool));
        pool.Subcommands.Add(get);

        var list = new Command("list", "Every pool");
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<PoolInfo>>(context, await (await context.ClientAsync()).ListPoolsAsync(), StorageOutput.Pools));
        pool.Subcommands.Add(list);

        var deleteName = NameArgument("POOL", "pool");
        var delete = new Command("delete", "Delete an empty pool (refused while it holds volumes or images)") { deleteName };
        delete.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var deleted = context.Get(deleteName)!;
            await client.DeletePoolAsync(deleted);
            return await DoneAsync(context, $"pool/{deleted} deleted", new DeletedObject(deleted, Deleted: true));
        });
        pool.Subcommands.Add(delete);
        return pool;
    }

    private static Command Volume(GlobalOptions global, CliIo io)
    {
        var volume = new Command("volume", "Volumes: thin qcow2 disks in a pool");

        var pool = NameArgument("POOL", "pool");
        var name = NameArgument("NAME", "volume");
        var size = new Option<long?>("--size") { Description = "The virtual size, e.g. 10Gi (with --from-image: at least the image's; default the image's)", HelpName = "SIZE", CustomParser = r => Parsers.Parse<long?>(r, text => Sizes.ParseBytes("size", text)) };
        var image = new Option<string?>("--from-image") { Description = "Clone an image of the same pool (a linked clone unless --full)", HelpName = "IMAGE", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("from-image", text)) };
        var full = new Option<bool>("--full") { Description = "A full copy of the image instead of a linked clone" };
        var host = new Option<string?>("--host") { Description = "A local pool: the host to keep it on (default: the pool chooses)", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("host", text)) };
        var create = new Command("create", "Create a volume") { pool, name, size, image, full, host };
        create.SetRunAction(global, io, async context =>
        {
            var spec = new VolumeSpec { Name = context.Get(name)!, SizeBytes = context.Get(size), Image = context.Get(image), Full = context.Get(full), Host = context.Get(host) }.Validate();
            var created = await (await context.ClientAsync()).CreateVolumeAsync(context.Get(pool)!, spec);
            return await WriteAsync(context, created, StorageOutput.Volume);
        });
        volume.Subcommands.Add(create);

        var listPool = new Argument<string?>("POOL") { Description = "Only this pool's volumes", Arity = ArgumentArity.ZeroOrOne, CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("pool", text)) };
        var list = new Command("list", "Volumes with their virtual sizes and what they occupy on disk") { listPool };
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<VolumeInfo>>(context, await (await context.ClientAsync()).ListVolumesAsync(context.Get(listPool)), StorageOutput.Volumes));
        volume.Subcommands.Add(list);

        var getPool = NameArgument("POOL", "pool");
        var getName = NameArgument("NAME", "volume");
        var get = new Command("get", "One volume") { getPool, getName };
        get.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).GetVolumeAsync(context.Get(getPool)!, context.Get(getName)!), StorageOutput.Volume));
        volume.Subcommands.Add(get);

        var resizePool = NameArgument("POOL", "pool");
        var resizeName = NameArgument("NAME", "volume");
        var newSize = new Argument<long>("SIZE") { Description = "The new virtual size (volumes only grow)", CustomParser = r => Parsers.Parse(r, text => Sizes.ParseBytes("size", text)) };
        var resize = new Command("resize", "Grow a volume (live, through its VM, when it is a running VM's disk)") { resizePool, resizeName, newSize };
        resize.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).ResizeVolumeAsync(context.Get(resizePool)!, context.Get(resizeName)!, context.Get(newSize)), StorageOutput.Volume));
        volume.Subcommands.Add(resize);

        var deletePool = NameArgument("POOL", "pool");
        var deleteName = NameArgument("NAME", "volume");
        var delete = new Command("delete", "Delete a volume (refused while attached)") { deletePool, deleteName };
        delete.SetRunAction(global, io, async context =>
        {
            var (p, v) = (context.Get(deletePool)!, context.Get(deleteName)!);
            await (await context.ClientAsync()).DeleteVolumeAsync(p, v);
            return await DoneAsync(context, $"volume/{p}/{v} deleted", new DeletedPoolObject(p, v, Deleted: true));
        });
        volume.Subcommands.Add(delete);
        return volume;
    }

    private static Command Image(GlobalOptions global, CliIo io)
    {
        var image = new Command("image", "Images: bases for volumes, imported into a pool");
        var name = NameArgument("NAME", "image");
        var file = new Argument<string>("FILE") { Description = "The file to import: an absolute path the hosts can read (raw or qcow2, no backing file, no symlink)", CustomParser = r => Parsers.Parse(r, text => StoragePaths.RequireAbsolute("file", text)) ?? "" };
        var pool = new Option<string?>("--pool") { Description = "The pool to import into (default: the only pool)", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("pool", text)) };
        var import = new Command("import", "Import a file as an image: probed once, its format pinned, copied into the pool") { name, file, pool };
        import.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var target = context.Get(pool) ?? await OnlyPoolAsync(client);
            var imported = await client.ImportImageAsync(target, context.Get(name)!, context.Get(file)!);
            return await WriteAsync(context, (IReadOnlyList<ImageInfo>)[imported], StorageOutput.Images);
        });
        image.Subcommands.Add(import);

        var listPool = new Option<string?>("--pool") { Description = "Only this pool's images", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("pool", text)) };
        var list = new Command("list", "Images, with their pinned formats") { listPool };
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<ImageInfo>>(context, await (await context.ClientAsync()).ListImagesAsync(context.Get(listPool)), StorageOutput.Images));
        image.Subcommands.Add(list);

        var deleteName = NameArgument("NAME", "image");
        var deletePool = new Option<string?>("--pool") { Description = "The image's pool (default: the only pool)", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("pool", text)) };
        var delete = new Command("delete", "Delete an image (refused while linked clones depend on it)") { deleteName, deletePool };
        delete.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var target = context.Get(deletePool) ?? await OnlyPoolAsync(client);
            var deleted = context.Get(deleteName)!;
            await client.DeleteImageAsync(target, deleted);
            return await DoneAsync(context, $"image/{target}/{deleted} deleted", new DeletedPoolObject(target, deleted, Deleted: true));
        });
        image.Subcommands.Add(delete);
        return image;
    }

    private static async Task<string> OnlyPoolAsync(FabricApiClient client)
    {
        var pools = await client.ListPoolsAsync();
        return pools.Length == 1
            ? pools[0].Name
            : throw FabricException.InvalidSpec("pool", pools.Length == 0 ? "no pool exists; create one first" : $"there are {pools.Length} pools ({string.Join(", ", pools.Select(p => p.Name))}); name one with --pool");
    }

    private static PoolType PoolTypeOf(string text) => text.ToLowerInvariant() switch
    {
        "local" => PoolType.Local,
        "shared" => PoolType.Shared,
        _ => throw FabricException.InvalidSpec("type", $"'{Names.Printable(text)}' is not local or shared"),
    };

    private static double Ratio(string field, string text) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value >= 1 && value <= PoolSpec.MaxOvercommit
            ? value
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a ratio from 1 to {PoolSpec.MaxOvercommit} (e.g. 1.5)");
}
