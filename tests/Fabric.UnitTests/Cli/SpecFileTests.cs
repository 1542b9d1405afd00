using Fabric.Cli;
using Fabric.Contracts;
using Fabric.UnitTests.Contracts;

namespace Fabric.UnitTests.Cli;

public sealed class SpecFileTests
{
    private const string Full = """
        name: web
        image: tiny
        vcpus: 2
        memory: 256Mi
        labels:
          app: web
          tier: front
        placement:
          host: host-a
          policy: spread
          antiAffinityGroup: web-spread
          affinityGroup: web-pack
          hostSelector:
            zone: a
        count: 3
        """;

    [Fact]
    public void Parse_ReadsEveryField()
    {
        var (spec, count) = SpecFile.Parse(Full);

        Assert.Equal("web", spec.Name);
        Assert.Equal("tiny", spec.Image);
        Assert.Equal(2, spec.VCpus);
        Assert.Equal(256, spec.MemoryMiB);
        Assert.Equal(["app", "tier"], spec.Labels.Keys);
        Assert.Equal("front", spec.Labels["tier"]);
        Assert.Equal("host-a", spec.Placement.Host);
        Assert.Equal(PlacementPolicy.Spread, spec.Placement.Policy);
        Assert.Equal("web-spread", spec.Placement.AntiAffinityGroup);
        Assert.Equal("web-pack", spec.Placement.AffinityGroup);
        Assert.Equal("a", spec.Placement.HostSelector["zone"]);
        Assert.Equal(3, count);
    }

    [Fact]
    public void Parse_MinimalSpecGetsTheContractDefaultsAndNoCount()
    {
        var (spec, count) = SpecFile.Parse("name: web\nimage: tiny\n");

        Assert.Equal(VmSpec.DefaultVCpus, spec.VCpus);
        Assert.Equal(VmSpec.DefaultMemoryMiB, spec.MemoryMiB);
        Assert.Empty(spec.Labels);
        Assert.Equal(VmPlacement.None, spec.Placement);
        Assert.Null(count);
        Assert.Equal(spec, spec.Validate());
    }

    [Fact]
    public void Parse_ReadsGibibytesAndBareMebibytes()
    {
        Assert.Equal(2048, SpecFile.Parse("name: a\nimage: tiny\nmemory: 2Gi\n").Spec.MemoryMiB);
        Assert.Equal(512, SpecFile.Parse("name: a\nimage: tiny\nmemory: 512\n").Spec.MemoryMiB);
    }

    [Fact]
    public void Parse_RejectsAnUnknownFieldByName()
    {
        var error = InvalidSpec.Expect("colour", () => SpecFile.Parse("name: a\nimage: tiny\ncolour: blue\n"));

        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RejectsAnUnknownPlacementFieldByItsPath()
    {
        InvalidSpec.Expect("placement.zone", () => SpecFile.Parse("name: a\nimage: tiny\nplacement:\n  zone: a\n"));
    }

    [Fact]
    public void Parse_IsCaseSensitiveAboutFieldNames()
    {
        InvalidSpec.Expect("Memory", () => SpecFile.Parse("name: a\nimage: tiny\nMemory: 256Mi\n"));
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("-5Mi")]
    [InlineData("1.5Gi")]
    [InlineData("99999999999Gi")]
    public void Parse_RejectsABadMemorySize(string memory)
    {
        InvalidSpec.Expect("memory", () => SpecFile.Parse($"name: a\nimage: tiny\nmemory: \"{memory}\"\n"));
    }

    [Theory]
    [InlineData("vcpus: two", "vcpus")]
    [InlineData("vcpus: 0", "vcpus")]
    [InlineData("count: -1", "count")]
    [InlineData("labels: [a, b]", "labels")]
    [InlineData("labels: { app: [a] }", "labels.app")]
    [InlineData("labels: { \"bad key\": x }", "labels")]
    [InlineData("placement: spread", "placement")]
    [InlineData("placement: { policy: random }", "placement.policy")]
    [InlineData("placement: { hostSelector: { zone: \"a b\" } }", "placement.hostSelector.zone")]
    [InlineData("vcpus: [1, 2]", "vcpus")]
    public void Parse_NamesTheFieldWithABadValue(string line, string field)
    {
        InvalidSpec.Expect(field, () => SpecFile.Parse($"name: a\nimage: tiny\n{line}\n"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    [InlineData("- name: a\n")]
    [InlineData("name: a\n---\nname: b\n")]
    [InlineData("name: [a\n")]
    [InlineData("name: a\nname: b\n")]
    public void Parse_RejectsAFileThatIsNotOneMapping(string yaml)
    {
        InvalidSpec.Expect("spec", () => SpecFile.Parse(yaml));
    }

    [Fact]
    public void Load_ReportsAMissingFileAsInvalidSpec()
    {
        InvalidSpec.Expect("file", () => SpecFile.Load("/nonexistent/spec.yaml", TextReader.Null));
    }

    [Fact]
    public void Load_ReadsStandardInputForDash()
    {
        var (spec, _) = SpecFile.Load("-", new StringReader("name: piped\nimage: tiny\n"));

        Assert.Equal("piped", spec.Name);
    }

    [Fact]
    public void Disks_AreAListOfTheCommandLineForms()
    {
        var content = SpecFile.Parse("name: db\nimage: linux\ndisks:\n  - data:1Gi\n  - data/logs\n  - data:2Gi:debian\n");

        Assert.Equal(["data:1073741824", "data/logs", "data:2147483648:debian"], content.Spec.Disks.Select(d => d.ToString()));
    }

    [Fact]
    public void Networks_AreAListOfTheCommandLineForms()
    {
        var content = SpecFile.Parse("name: web\nimage: linux\nnetworks:\n  - blue\n  - red:10.20.0.5\n");

        Assert.Equal(["blue", "red:10.20.0.5"], content.Spec.Nics.Select(n => n.ToString()));
        var error = Assert.Throws<Fabric.Contracts.FabricException>(() => SpecFile.Parse("name: web\nimage: linux\nnetworks: blue\n"));
        Assert.StartsWith("networks: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Disks_ThatAreNotAList_NameTheField()
    {
        var error = Assert.Throws<Fabric.Contracts.FabricException>(() => SpecFile.Parse("name: db\nimage: linux\ndisks: data:1Gi\n"));
        Assert.StartsWith("disks: ", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<Fabric.Contracts.FabricException>(() => SpecFile.Parse("name: db\nimage: linux\ndisks:\n  - data\n"));
        Assert.StartsWith("disks[0]: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Project_IsReadFromTheFile_AndIsTheDefaultOtherwise()
    {
        Assert.Equal("shop", SpecFile.Parse("name: web\nimage: tiny\nproject: shop\n").Spec.Project);
        Assert.Equal(ProjectInfo.Default, SpecFile.Parse("name: web\nimage: tiny\n").Spec.Project);
        InvalidSpec.Expect("project", () => SpecFile.Parse("name: web\nimage: tiny\nproject: Shop\n").Spec.Validate());
    }

    public static TheoryData<string, string> DeepDocuments => new()
    {
        { "flow sequences", new string('[', 400_000) },
        { "flow mappings", string.Concat(Enumerable.Repeat("{a: ", 200_000)) },
        { "compact block sequences", string.Concat(Enumerable.Repeat("- ", 400_000)) + "x" },
        { "block mappings", string.Concat(Enumerable.Range(0, 1000).Select(i => new string(' ', i) + "k:\n")) },
        { "deep labels", "name: a\nimage: tiny\nlabels: " + new string('[', 65) + new string(']', 65) + "\n" },
    };

    [Theory]
    [MemberData(nameof(DeepDocuments))]
    public void Parse_RefusesADocumentNestedDeeperThan64_WithoutLoadingIt(string shape, string yaml)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();

        var error = InvalidSpec.Expect("file", () => SpecFile.Parse(yaml));

        Assert.Contains("deeper than 64", error.Message, StringComparison.Ordinal);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"{shape}: {started.Elapsed}");
    }

    [Fact]
    public void Parse_AcceptsNesting64Deep()
    {
        // The root mapping and 63 sequences: within the bound, so the field's own check speaks.
        InvalidSpec.Expect("labels", () => SpecFile.Parse("name: a\nimage: tiny\nlabels: " + new string('[', 63) + new string(']', 63) + "\n"));
    }

    [Fact]
    public void Parse_RefusesADocumentOver1MiB()
    {
        var error = InvalidSpec.Expect("file", () => SpecFile.Parse("name: a\nimage: tiny\n" + new string('#', SpecFile.MaxBytes)));

        Assert.Contains("at most 1048576 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_RefusesAFileOver1MiB_NamingIt_BeforeReadingIt()
    {
        var path = Path.Combine(Path.GetTempPath(), $"fabric-spec-{Guid.NewGuid():n}.yaml");
        File.WriteAllText(path, "name: a\nimage: tiny\n" + new string('#', 2 * SpecFile.MaxBytes));
        try
        {
            var error = InvalidSpec.Expect("file", () => SpecFile.Load(path, TextReader.Null));

            Assert.Contains(path, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_RefusesStandardInputOver1MiB()
    {
        var error = InvalidSpec.Expect("file", () => SpecFile.Load("-", new StringReader(new string('#', SpecFile.MaxBytes + 1))));

        Assert.Contains("standard input", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VmCreate_OnA400000DeepSpec_FailsWithOneLine()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = await Program.RunAsync(["vm", "create", "-f", "-"], CliIo.Capture(stdout, stderr, new StringReader(new string('[', 400_000))));

        Assert.Equal(1, code);
        Assert.StartsWith("error: invalid-spec: file: 'standard input' nests deeper than 64 levels", stderr.ToString(), StringComparison.Ordinal);
    }
}
