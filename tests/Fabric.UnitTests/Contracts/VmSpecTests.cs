using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

public sealed class VmSpecTests
{
    private static readonly VmSpec Good = new() { Name = "web-1", Image = "tiny" };

    [Fact]
    public void Validate_AcceptsAMinimalSpecWithDefaults()
    {
        var spec = Good.Validate();

        Assert.Equal(VmSpec.DefaultVCpus, spec.VCpus);
        Assert.Equal(VmSpec.DefaultMemoryMiB, spec.MemoryMiB);
        Assert.Empty(spec.Labels);
        Assert.Equal(PlacementPolicy.Default, spec.Placement.Policy);
    }

    [Fact]
    public void Validate_NormalizesMissingCollections()
    {
        var spec = (Good with { Labels = null!, Placement = null! }).Validate();

        Assert.NotNull(spec.Labels);
        Assert.NotNull(spec.Placement);
        Assert.NotNull(spec.Placement.HostSelector);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("a,b")]
    [InlineData("a b")]
    [InlineData("Web")]
    [InlineData("wеb")] // Cyrillic 'е'
    [InlineData("web\n")]
    [InlineData("web\r")]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 64
    public void Validate_RejectsBadNames(string? name)
    {
        InvalidSpec.Expect("name", () => (Good with { Name = name! }).Validate());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("../tiny")]
    [InlineData("tiny,format=qcow2")]
    [InlineData("Tiny")]
    [InlineData("tiny\n")]
    public void Validate_RejectsBadImages(string? image)
    {
        InvalidSpec.Expect("image", () => (Good with { Image = image! }).Validate());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(257)]
    [InlineData(int.MinValue)]
    [InlineData(int.MaxValue)]
    public void Validate_RejectsVCpusOutOfRange(int vcpus)
    {
        var error = InvalidSpec.Expect("vcpus", () => (Good with { VCpus = vcpus }).Validate());

        Assert.Contains(vcpus.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(256)]
    public void Validate_AcceptsVCpusAtTheLimits(int vcpus)
    {
        Assert.Equal(vcpus, (Good with { VCpus = vcpus }).Validate().VCpus);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(0)]
    [InlineData(-128)]
    [InlineData(VmSpec.MaxMemoryMiB + 1)]
    [InlineData(int.MaxValue)]
    public void Validate_RejectsMemoryOutOfRange(int memoryMiB)
    {
        var error = InvalidSpec.Expect("memory", () => (Good with { MemoryMiB = memoryMiB }).Validate());

        Assert.Contains("16Mi", error.Message, StringComparison.Ordinal);
        Assert.Contains("1024Gi", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(VmSpec.MinMemoryMiB)]
    [InlineData(VmSpec.MaxMemoryMiB)]
    public void Validate_AcceptsMemoryAtTheLimits(int memoryMiB)
    {
        Assert.Equal(memoryMiB, (Good with { MemoryMiB = memoryMiB }).Validate().MemoryMiB);
    }

    [Fact]
    public void Validate_ChecksPlacementNames()
    {
        InvalidSpec.Expect("placement.host", () => (Good with { Placement = new VmPlacement { Host = "../host-a" } }).Validate());
        InvalidSpec.Expect("placement.antiAffinityGroup", () => (Good with { Placement = new VmPlacement { AntiAffinityGroup = "a,b" } }).Validate());
        InvalidSpec.Expect("placement.affinityGroup", () => (Good with { Placement = new VmPlacement { AffinityGroup = "" } }).Validate());
        InvalidSpec.Expect("placement.policy", () => (Good with { Placement = new VmPlacement { Policy = (PlacementPolicy)7 } }).Validate());
    }

    [Fact]
    public void Validate_ChecksLabelsAndHostSelector()
    {
        var bad = ImmutableSortedDictionary<string, string>.Empty.Add("tier", "a b");

        InvalidSpec.Expect("labels.tier", () => (Good with { Labels = bad }).Validate());
        InvalidSpec.Expect("placement.hostSelector.tier", () => (Good with { Placement = new VmPlacement { HostSelector = bad } }).Validate());
    }

    [Fact]
    public void Validate_NamesTheFirstBadField()
    {
        InvalidSpec.Expect("name", () => new VmSpec { Name = "A", Image = "B", VCpus = 0, MemoryMiB = 0 }.Validate());
        InvalidSpec.Expect("vcpus", () => new VmSpec { Name = "a", Image = "b", VCpus = 0, MemoryMiB = 0 }.Validate());
    }
}
