using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.Cli.Commands;

internal static partial class VmCommands
{
    /// <summary>The options of <c>vm create</c>; a spec comes either from them or from a file.</summary>
    private sealed class CreateOptions
    {
        public Argument<string?> Name { get; } = new("NAME")
        {
            Description = "The VM's name (with --count, the prefix of NAME-1…NAME-N, numbers zero-padded to the width of N)",
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("name", text)),
        };

        public Option<string?> File { get; } = new("--file", "-f")
        {
            Description = "Read the spec from a YAML file ('-' for standard input) instead of options",
            HelpName = "spec.yaml",
        };

        public Option<string?> Image { get; } = new("--image") { Description = "The guest image", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("image", text)) };

        public Option<int?> VCpus { get; } = new("--vcpus") { Description = $"vCPUs (default {VmSpec.DefaultVCpus})", HelpName = "N", CustomParser = r => Parsers.Parse<int?>(r, text => Parsers.PositiveInt("vcpus", text)) };

        public Option<int?> Memory { get; } = new("--memory") { Description = $"Memory, e.g. 256Mi or 2Gi (default {Sizes.FormatMiB(VmSpec.DefaultMemoryMiB)})", HelpName = "SIZE", CustomParser = r => Parsers.Parse<int?>(r, text => Sizes.ParseMiB("memory", text)) };

        public Option<string?> Host { get; } = new("--host") { Description = "Run on exactly this host", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("host", text)) };

        public Option<ImmutableSortedDictionary<string, string>?> Labels { get; } = new("--label")
        {
            Description = "A label k=v (repeatable)",
            HelpName = "k=v",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = r => Parsers.ParseAll(r, tokens => Parsers.LabelPairs("labels", tokens)),
        };

        public Option<PlacementPolicy?> Policy { get; } = new("--placement") { Description = "Spread VMs over hosts or pack them", HelpName = "pack|spread", CustomParser = r => Parsers.Parse<PlacementPolicy?>(r, text => Parsers.Policy("placement", text)) };

        public Option<string?> AntiAffinity { get; } = new("--anti-affinity") { Description = "VMs sharing this group never share a host", HelpName = "GROUP", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("anti-affinity", text)) };

        public Option<string?> Affinity { get; } = new("--affinity") { Description = "VMs sharing this group share a host", HelpName = "GROUP", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("affinity", text)) };

        public Option<ImmutableSortedDictionary<string, string>?> HostSelector { get; } = new("--host-selector")
        {
            Description = "Only hosts carrying this label k=v qualify (repeatable)",
            HelpName = "k=v",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = r => Parsers.ParseAll(r, tokens => Parsers.LabelPairs("host-selector", tokens)),
        };

        public Option<ImmutableArray<DiskRequest>?> Disks { get; } = new("--disk")
        {
            Description = "A disk (repeatable, in the order the guest sees them): POOL:SIZE (a new volume, deleted with the VM), POOL:SIZE:IMAGE (a linked clone of the pool's image), or POOL/VOLUME (an existing volume)",
            HelpName = "POOL:SIZE|POOL:SIZE:IMAGE|POOL/VOLUME",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = r => Parsers.ParseAll<ImmutableArray<DiskRequest>?>(r, tokens => [.. tokens.Select((t, i) => DiskRequest.Parse($"disk[{i}]", t))]),
        };

        public Option<ImmutableArray<NicRequest>?> Nics { get; } = new("--network")
        {
            Description = "A NIC (repeatable, in the order the guest sees them: eth0, eth1, …): NET (the network picks the address) or NET:IP",
            HelpName = "NET[:IP]",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = r => Parsers.ParseAll<ImmutableArray<NicRequest>?>(r, tokens => [.. tokens.Select((t, i) => NicRequest.Parse($"network[{i}]", t))]),
        };

        public Option<string?> Project { get; } = new("--project") { Description = $"The project the VM belongs to (default: {ProjectInfo.Default})", HelpName = "PROJECT", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("project", text)) };

        public Option<int?> Count { get; } = new("--count") { Description = $"Create N VMs named NAME-1…NAME-N, in parallel (at most {FabricBulk.MaxCount})", HelpName = "N", CustomParser = r => Parsers.Parse<int?>(r, text => FabricBulk.RequireCount(Parsers.PositiveInt("count", text))) };

        public Option<bool> Start { get; } = new("--start") { Description = "Start the VMs once created" };

        /// <summary>Options that describe the spec, and so conflict with --file.</summary>
        public IEnumerable<Option> SpecOptions => [Image, VCpus, Memory, Host, Labels, Policy, AntiAffinity, Affinity, HostSelector, Disks, Nics, Project, Count];

        public void Validate(CommandResult result)
        {
            var hasName = result.GetResult(Name) is { Tokens.Count: > 0 };
            if (result.GetResult(File) is not null)
            {
                var conflicting = SpecOptions.Where(o => result.GetResult(o) is not null).Select(o => o.Name).ToList();
                if (hasName)
                {
                    conflicting.Insert(0, "NAME");
                }

                if (conflicting.Count > 0)
                {
                    result.AddError($"file: -f cannot be combined with {string.Join(", ", conflicting)}; put them in the file");
                }

                return;
            }

            if (!hasName)
            {
                result.AddError("name: is required (or give -f spec.yaml)");
            }
            else if (result.GetResult(Image) is null)
            {
                result.AddError("image: is required");
            }
        }

        public SpecFileContent Read(CommandContext context)
        {
            if (context.Get(File) is { } file)
            {
                return SpecFile.Load(file, context.Io.In);
            }

            var spec = new VmSpec
            {
                Name = context.Get(Name) ?? "",
                Image = context.Get(Image) ?? "",
                VCpus = context.Get(VCpus) ?? VmSpec.DefaultVCpus,
                MemoryMiB = context.Get(Memory) ?? VmSpec.DefaultMemoryMiB,
                Labels = context.Get(Labels) ?? ImmutableSortedDictionary<string, string>.Empty,
                Placement = new VmPlacement
                {
                    Host = context.Get(Host),
                    Policy = context.Get(Policy) ?? PlacementPolicy.Default,
                    AntiAffinityGroup = context.Get(AntiAffinity),
                    AffinityGroup = context.Get(Affinity),
                    HostSelector = context.Get(HostSelector) ?? ImmutableSortedDictionary<string, string>.Empty,
                },
                Disks = context.Get(Disks) ?? [],
                Nics = context.Get(Nics) ?? [],
                Project = context.Get(Project) ?? ProjectInfo.Default,
            };
            return new SpecFileContent(spec, context.Get(Count));
        }
    }

    private static Command CreateCommand(GlobalOptions global, CliIo io)
    {
        var options = new CreateOptions();
        var command = new Command("create", "Create (place and reserve) a VM, or --count of them, optionally --start them")
        {
            options.Name, options.File, options.Image, options.VCpus, options.Memory, options.Host, options.Labels,
            options.Policy, options.AntiAffinity, options.Affinity, options.HostSelector, options.Disks, options.Nics, options.Project, options.Count, options.Start,
        };
        command.Validators.Add(options.Validate);
        command.SetRunAction(global, io, async context =>
        {
            var (spec, count) = options.Read(context);
            spec = spec.Validate();
            if (count is { } bulk)
            {
                FabricBulk.RequireCount(bulk);
            }

            if (count is not null && spec.Disks.FirstOrDefault(d => d.Volume is not null) is { } shared)
            {
                throw FabricException.InvalidSpec("disk", $"{shared} is one volume; with --count every VM needs its own (use POOL:SIZE)");
            }

            if (count is not null && spec.Nics.FirstOrDefault(n => n.Ip is not null) is { } fixedAddress)
            {
                throw FabricException.InvalidSpec("network", $"{fixedAddress} is one address; with --count every VM needs its own (use NET)");
            }

            var start = context.Get(options.Start);
            var client = await context.ClientAsync();
            if (count is null)
            {
                var vm = await client.CreateVmAsync(spec);
                if (start)
                {
                    vm = await client.StartVmAsync(vm.Name);
                }

                await WriteVmAsync(context, vm);
                return ExitCodes.Success;
            }

            var created = await BulkProgressDisplay.RunAsync(io, "create", progress => client.CreateVmsAsync(spec, count.Value, progress, context.CancellationToken));
            var results = created.Select(r => BulkResultView.From(r)).ToList();
            if (start)
            {
                results = await StartCreatedAsync(context, client, created, results);
            }

            return await WriteBulkAsync(context, results);
        });
        return command;
    }

    /// <summary>Starts the VMs a bulk create made; a VM's start result replaces its create result.</summary>
    private static async Task<List<BulkResultView>> StartCreatedAsync(CommandContext context, FabricApiClient client, ImmutableArray<BulkResult> created, List<BulkResultView> results)
    {
        var names = created.Where(r => r.Succeeded).Select(r => r.Vm).ToList();
        if (names.Count == 0)
        {
            return results;
        }

        var started = await BulkProgressDisplay.RunAsync(
            context.Io,
            "start",
            progress => FabricBulk.RunBulkAsync(names, async name => (VmInfo?)await client.StartVmAsync(name), progress, context.CancellationToken));
        var byName = started.ToDictionary(r => r.Vm, StringComparer.Ordinal);
        return [.. results.Select(r => byName.TryGetValue(r.Vm, out var s) ? BulkResultView.From(s) : r)];
    }

    private static async Task WriteVmAsync(CommandContext context, VmInfo vm)
    {
        if (context.Json)
        {
            await Json.WriteAsync(context.Io.Out, vm);
        }
        else
        {
            VmOutput.Changed(context.Out, vm);
        }
    }
}
