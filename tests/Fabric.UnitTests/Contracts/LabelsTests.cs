using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

public sealed class LabelsTests
{
    [Fact]
    public void Require_NullOrEmptyIsEmpty()
    {
        Assert.Empty(Labels.Require("labels", null));
        Assert.Empty(Labels.Require("labels", new Dictionary<string, string>()));
    }

    [Fact]
    public void Require_AcceptsSafeLabelsSortedByKey()
    {
        var labels = Labels.Require("labels", new Dictionary<string, string>
        {
            ["tier"] = "web",
            ["app.kubernetes.io_name"] = "Fabric-1.0",
            ["empty"] = "",
        });

        Assert.Equal(["app.kubernetes.io_name", "empty", "tier"], labels.Keys);
        Assert.Equal("Fabric-1.0", labels["app.kubernetes.io_name"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a,b")]
    [InlineData("a=b")]
    [InlineData("a/b")]
    [InlineData("-a")]
    [InlineData("a.")]
    [InlineData("tier\n")]
    [InlineData("tiér")]
    public void Require_RejectsBadKeys(string key)
    {
        InvalidSpec.Expect("labels", () => Labels.Require("labels", new Dictionary<string, string> { [key] = "v" }));
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("a,b")]
    [InlineData("$(x)")]
    [InlineData("_a")]
    [InlineData("web\n")]
    [InlineData("w\0b")]
    public void Require_RejectsBadValuesNamingTheKey(string value)
    {
        InvalidSpec.Expect("placement.hostSelector.zone", () => Labels.Require("placement.hostSelector", new Dictionary<string, string> { ["zone"] = value }));
    }

    [Fact]
    public void Require_Limits63CharactersPerKeyAndValue()
    {
        var longest = new string('k', 63);
        Assert.Single(Labels.Require("labels", new Dictionary<string, string> { [longest] = longest }));

        InvalidSpec.Expect("labels", () => Labels.Require("labels", new Dictionary<string, string> { [longest + "k"] = "v" }));
        InvalidSpec.Expect("labels.k", () => Labels.Require("labels", new Dictionary<string, string> { ["k"] = longest + "v" }));
    }

    [Fact]
    public void Require_Limits32Labels()
    {
        var labels = Enumerable.Range(0, 33).ToDictionary(i => $"k{i}", _ => "v");

        var error = InvalidSpec.Expect("labels", () => Labels.Require("labels", labels));
        Assert.Contains("33", error.Message, StringComparison.Ordinal);
        Assert.Equal(32, Labels.Require("labels", labels.Take(32).ToDictionary()).Count);
    }

    [Fact]
    public void SelectorParse_Limits32Terms_BeforeReadingThem()
    {
        Assert.Equal(32, LabelSelector.Parse("selector", string.Join(',', Enumerable.Range(0, 32).Select(i => $"k{i}=v"))).Pairs.Count);

        var error = InvalidSpec.Expect("selector", () => LabelSelector.Parse("selector", string.Join(',', Enumerable.Range(0, 33).Select(i => $"k{i}=v"))));
        Assert.Contains("33 terms", error.Message, StringComparison.Ordinal);

        // 400,000 malformed terms are refused by their number, not read one by one.
        InvalidSpec.Expect("selector", () => LabelSelector.Parse("selector", string.Join(',', Enumerable.Repeat("?", 400_000))));
    }

    [Fact]
    public void VmSpec_LimitsItsLabelsAndHostSelector()
    {
        var many = Enumerable.Range(0, 33).ToImmutableSortedDictionary(i => $"k{i}", _ => "v");
        var spec = new VmSpec { Name = "web", Image = "tiny" };

        InvalidSpec.Expect("labels", () => (spec with { Labels = many }).Validate());
        InvalidSpec.Expect("placement.hostSelector", () => (spec with { Placement = new VmPlacement { HostSelector = many } }).Validate());
    }

    [Theory]
    [InlineData("tier=web", "tier", "web")]
    [InlineData("tier=", "tier", "")]
    [InlineData("a=b=c", "a", "b=c")]
    public void ParsePair_SplitsAtTheFirstEquals(string text, string key, string value)
    {
        Assert.Equal(new KeyValuePair<string, string>(key, value), Labels.ParsePair("--label", text));
    }

    [Theory]
    [InlineData("tier")]
    [InlineData("=web")]
    [InlineData("")]
    public void ParsePair_RejectsTextWithoutKey(string text)
    {
        InvalidSpec.Expect("--label", () => Labels.ParsePair("--label", text));
    }
}
