using System.Collections.Immutable;
using System.Globalization;
using Fabric.Contracts;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Fabric.Cli;

/// <summary>What a spec file asks for: one VM spec, and how many VMs to make from it (null: just the one).</summary>
internal sealed record SpecFileContent(VmSpec Spec, int? Count);

/// <summary>
/// The YAML spec file of <c>vm create -f</c>. Read node by node so that every mistake is an <c>invalid-spec</c> naming its
/// field (<c>placement.hostSelector</c>) and line; unknown fields are rejected, like firecracker's configs.
/// <code>
/// name: web
/// image: tiny
/// vcpus: 2
/// memory: 256Mi
/// labels: { app: web }
/// placement: { policy: spread, antiAffinityGroup: web, hostSelector: { zone: a } }
/// project: shop
/// count: 3
/// </code>
/// A file larger than <see cref="MaxBytes"/> or nested deeper than <see cref="MaxDepth"/> is refused before it is loaded.
/// </summary>
internal static class SpecFile
{
    /// <summary>The largest spec file read (1 MiB; a VM's spec takes a few hundred bytes).</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>The deepest nesting of mappings and sequences accepted (a spec needs 3).</summary>
    public const int MaxDepth = 64;

    private const string StandardInput = "standard input";

    private static readonly string[] TopFields = ["name", "image", "vcpus", "memory", "labels", "placement", "disks", "networks", "project", "count"];
    private static readonly string[] PlacementFields = ["host", "policy", "antiAffinityGroup", "affinityGroup", "hostSelector"];

    /// <summary>Reads the spec file at <paramref name="path"/>, or standard input when it is <c>-</c>.</summary>
    public static SpecFileContent Load(string path, TextReader standardInput)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(standardInput);
        string text;
        var source = path == "-" ? StandardInput : path;
        try
        {
            if (path == "-")
            {
                text = ReadBounded(standardInput);
            }
            else
            {
                var length = new FileInfo(path).Length;
                text = length > MaxBytes ? throw TooLarge(source, length) : File.ReadAllText(path);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw FabricException.InvalidSpec("file", $"cannot read '{Names.Printable(path)}': {ex.Message}");
        }

        return Parse(text, source);
    }

    public static SpecFileContent Parse(string yaml) => Parse(yaml, "spec");

    /// <summary>Parses a spec read from <paramref name="source"/> (named in errors about the file as a whole).</summary>
    public static SpecFileContent Parse(string yaml, string source)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        RequireBounded(yaml, source);
        var root = LoadRoot(yaml);
        string? name = null, image = null, project = null;
        int? vcpus = null, memory = null, count = null;
        var labels = ImmutableSortedDictionary<string, string>.Empty;
        var placement = VmPlacement.None;
        ImmutableArray<DiskRequest> disks = [];
        ImmutableArray<NicRequest> nics = [];
        foreach (var (key, value) in Fields(root, "", TopFields))
        {
            switch (key)
            {
                case "name": name = Scalar(value, key); break;
                case "image": image = Scalar(value, key); break;
                case "vcpus": vcpus = WholeNumber(value, key); break;
                case "memory": memory = Sizes.ParseMiB(key, Scalar(value, key) ?? ""); break;
                case "labels": labels = StringMap(value, key); break;
                case "placement": placement = Placement(value); break;
                case "disks": disks = Disks(value); break;
                case "networks": nics = Networks(value); break;
                case "project": project = Scalar(value, key); break;
                case "count": count = WholeNumber(value, key); break;
            }
        }

        var spec = new VmSpec
        {
            Name = name ?? "",
            Image = image ?? "",
            VCpus = vcpus ?? VmSpec.DefaultVCpus,
            MemoryMiB = memory ?? VmSpec.DefaultMemoryMiB,
            Labels = labels,
            Placement = placement,
            Disks = disks,
            Nics = nics,
            Project = project ?? ProjectInfo.Default,
        };
        return new SpecFileContent(spec, count);
    }

    /// <summary>
    /// Refuses a document over <see cref="MaxBytes"/> or nested deeper than <see cref="MaxDepth"/>, reading only its
    /// events up to that depth: loading a deeply nested document into a tree would recurse that deep.
    /// </summary>
    private static void RequireBounded(string yaml, string source)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(yaml);
        if (bytes > MaxBytes)
        {
            throw TooLarge(source, bytes);
        }

        var parser = new Parser(new StringReader(yaml));
        var depth = 0;
        try
        {
            while (parser.MoveNext())
            {
                if (parser.Current is MappingStart or SequenceStart && ++depth > MaxDepth)
                {
                    throw FabricException.InvalidSpec("file", $"'{Names.Printable(source)}' nests deeper than {MaxDepth} levels (line {parser.Current.Start.Line}); a spec needs a few");
                }

                if (parser.Current is MappingEnd or SequenceEnd)
                {
                    depth--;
                }
            }
        }
        catch (YamlException)
        {
            // Malformed: LoadRoot reports it with its line.
        }
    }

    /// <summary>Standard input, up to one character more than a spec may hold (so that a larger one is recognized).</summary>
    private static string ReadBounded(TextReader reader)
    {
        var buffer = new char[MaxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = reader.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        return length > MaxBytes ? throw TooLarge(StandardInput, null) : new string(buffer, 0, length);
    }

    /// <summary>A spec over the limit: its size when known (a file), else only that it is larger (standard input).</summary>
    private static FabricException TooLarge(string source, long? bytes) =>
        FabricException.InvalidSpec("file", $"'{Names.Printable(source)}' {(bytes is { } size ? $"is {size} bytes" : $"holds more than {MaxBytes} bytes")}; a spec file is at most {MaxBytes} bytes (1 MiB)");

    private static YamlMappingNode LoadRoot(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw FabricException.InvalidSpec("spec", $"is not valid YAML (line {ex.Start.Line}): {Reason(ex)}");
        }

        return stream.Documents.Count switch
        {
            0 => throw FabricException.InvalidSpec("spec", "is empty"),
            > 1 => throw FabricException.InvalidSpec("spec", $"holds {stream.Documents.Count} documents; a spec file describes one VM"),
            _ => stream.Documents[0].RootNode as YamlMappingNode
                ?? throw FabricException.InvalidSpec("spec", $"must be a mapping of fields ({string.Join(", ", TopFields)}) (line {stream.Documents[0].RootNode.Start.Line})"),
        };
    }

    /// <summary><c>disks:</c> a list of <c>POOL:SIZE</c>, <c>POOL:SIZE:IMAGE</c> or <c>POOL/VOLUME</c>, as <c>--disk</c> takes them.</summary>
    private static ImmutableArray<DiskRequest> Disks(YamlNode node)
    {
        if (node is not YamlSequenceNode list)
        {
            throw FabricException.InvalidSpec("disks", $"must be a list of POOL:SIZE, POOL:SIZE:IMAGE or POOL/VOLUME (line {node.Start.Line})");
        }

        if (list.Children.Count > VmDisk.MaxPerVm)
        {
            throw FabricException.InvalidSpec("disks", $"{list.Children.Count} disks; a VM has at most {VmDisk.MaxPerVm}");
        }

        return [.. list.Children.Select((item, i) => DiskRequest.Parse($"disks[{i}]", Scalar(item, $"disks[{i}]") ?? ""))];
    }

    /// <summary><c>networks:</c> a list of <c>NET</c> or <c>NET:IP</c>, as <c>--network</c> takes them.</summary>
    private static ImmutableArray<NicRequest> Networks(YamlNode node)
    {
        if (node is not YamlSequenceNode list)
        {
            throw FabricException.InvalidSpec("networks", $"must be a list of NET or NET:IP (line {node.Start.Line})");
        }

        if (list.Children.Count > VmNic.MaxPerVm)
        {
            throw FabricException.InvalidSpec("networks", $"{list.Children.Count} NICs; a VM has at most {VmNic.MaxPerVm}");
        }

        return [.. list.Children.Select((item, i) => NicRequest.Parse($"networks[{i}]", Scalar(item, $"networks[{i}]") ?? ""))];
    }

    private static VmPlacement Placement(YamlNode node)
    {
        var placement = VmPlacement.None;
        foreach (var (key, value) in Fields(Mapping(node, "placement"), "placement.", PlacementFields))
        {
            var field = $"placement.{key}";
            placement = key switch
            {
                "host" => placement with { Host = Scalar(value, field) },
                "policy" => placement with { Policy = Parsers.Policy(field, Scalar(value, field) ?? "") },
                "antiAffinityGroup" => placement with { AntiAffinityGroup = Scalar(value, field) },
                "affinityGroup" => placement with { AffinityGroup = Scalar(value, field) },
                _ => placement with { HostSelector = StringMap(value, field) },
            };
        }

        return placement;
    }

    /// <summary>The fields of <paramref name="mapping"/>, each checked against <paramref name="known"/>.</summary>
    private static IEnumerable<(string Key, YamlNode Value)> Fields(YamlMappingNode mapping, string prefix, string[] known)
    {
        foreach (var (keyNode, value) in mapping.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value
                ?? throw FabricException.InvalidSpec(prefix.TrimEnd('.') is { Length: > 0 } p ? p : "spec", $"field names must be plain words (line {keyNode.Start.Line})");
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                throw FabricException.InvalidSpec($"{prefix}{key}", $"is not a known field (line {keyNode.Start.Line}); known: {string.Join(", ", known)}");
            }

            yield return (key, value);
        }
    }

    private static YamlMappingNode Mapping(YamlNode node, string field) =>
        node as YamlMappingNode ?? throw FabricException.InvalidSpec(field, $"must be a mapping (line {node.Start.Line})");

    /// <summary>A scalar's text, or null for an empty or <c>null</c> value.</summary>
    private static string? Scalar(YamlNode node, string field)
    {
        if (node is not YamlScalarNode scalar)
        {
            throw FabricException.InvalidSpec(field, $"must be a single value (line {node.Start.Line})");
        }

        var isNull = scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";
        return isNull ? null : scalar.Value;
    }

    private static int? WholeNumber(YamlNode node, string field)
    {
        var text = Scalar(node, field);
        return text is null ? null
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value
            : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a positive whole number (line {node.Start.Line})");
    }

    private static ImmutableSortedDictionary<string, string> StringMap(YamlNode node, string field)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in Mapping(node, field).Children)
        {
            var key = Scalar(keyNode, field) ?? "";
            if (!pairs.TryAdd(key, Scalar(value, $"{field}.{key}") ?? ""))
            {
                throw FabricException.InvalidSpec(field, $"key '{Names.Printable(key)}' appears twice (line {keyNode.Start.Line})");
            }
        }

        return Labels.Require(field, pairs);
    }

    /// <summary>YamlDotNet prefixes its messages with the position; the line is reported separately.</summary>
    private static string Reason(YamlException ex)
    {
        var message = ex.InnerException?.Message ?? ex.Message;
        var marker = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line", StringComparison.Ordinal) && marker >= 0 ? message[(marker + 3)..] : message;
    }
}
