using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Volumes;

public sealed class SafeNamesTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("web-1")]
    [InlineData("0")]
    [InlineData("a-b-c-9")]
    public void IsSafe_AcceptsLowerCaseLettersDigitsAndInnerDashes(string name)
    {
        Assert.True(SafeNames.IsSafe(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("-a")]
    [InlineData("a-")]
    [InlineData("A")]
    [InlineData("a.b")]
    [InlineData("a_b")]
    [InlineData("a b")]
    [InlineData("a\n")]
    [InlineData("..")]
    public void IsSafe_RefusesEverythingElse(string? name)
    {
        Assert.False(SafeNames.IsSafe(name));
    }

    [Fact]
    public void Ensure_SaysWhatKindOfNameWasRefused()
    {
        var error = Assert.Throws<HypervisorException>(() => SafeNames.Ensure("A", "image"));

        Assert.Equal("'A' is not a safe image name", error.Message);
    }

    [Fact]
    public void VmPaths_UsesTheSameRule()
    {
        var error = Assert.Throws<HypervisorException>(() => VmPaths.EnsureSafeName(new string('a', 64)));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("not a safe VM name", error.Message, StringComparison.Ordinal);
    }
}
