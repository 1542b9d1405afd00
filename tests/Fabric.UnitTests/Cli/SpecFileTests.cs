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
}
