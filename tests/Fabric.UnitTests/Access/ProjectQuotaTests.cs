using Fabric.Contracts;
using Fabric.UnitTests.Contracts;

namespace Fabric.UnitTests.Access;

/// <summary>Quotas: negative limits refused by field; a VM that would pass a limit refused naming it, with the figures.</summary>
public sealed class ProjectQuotaTests
{
    private static readonly ProjectQuota Quota = new() { Vms = 5, VCpus = 8, MemoryMiB = 4096 };

    [Theory]
    [InlineData(-1, null, null, "quota.vms")]
    [InlineData(null, -1, null, "quota.vcpus")]
    [InlineData(null, null, -1L, "quota.memoryMiB")]
    public void Validate_RefusesANegativeLimitNamingIt(int? vms, int? vcpus, long? memoryMiB, string field)
    {
        var error = InvalidSpec.Expect(field, () => new ProjectQuota { Vms = vms, VCpus = vcpus, MemoryMiB = memoryMiB }.Validate());
        Assert.EndsWith("-1 is negative", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AcceptsZeroAndUnlimited()
    {
        var zero = new ProjectQuota { Vms = 0, VCpus = 0, MemoryMiB = 0 };

        Assert.Same(zero, zero.Validate());
        Assert.Same(ProjectQuota.Unlimited, ProjectQuota.Unlimited.Validate());
    }

    [Theory]
    [InlineData(5, 0, 0, 1, 1, "project 'web' quota vms: 5 in use + 1 asked > 5")]
    [InlineData(1, 6, 0, 4, 1, "project 'web' quota vcpus: 6 in use + 4 asked > 8")]
    [InlineData(1, 1, 3584, 1, 1024, "project 'web' quota memory: 3584 MiB in use + 1024 MiB asked > 4096 MiB")]
    [InlineData(5, 8, 4096, 1, 1, "project 'web' quota vms: 5 in use + 1 asked > 5")] // every limit passed: vms is named first
    public void RequireRoom_NamesTheFirstLimitPassed(int vms, int vcpus, long memoryMiB, int askedVCpus, long askedMemoryMiB, string message)
    {
        var inUse = new ProjectUsage { Vms = vms, VCpus = vcpus, MemoryMiB = memoryMiB };

        var error = Assert.Throws<FabricException>(() => Quota.RequireRoom("web", inUse, askedVCpus, askedMemoryMiB));

        Assert.Equal(ErrorCodes.InsufficientQuota, error.Code);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void RequireRoom_AcceptsAVmThatFillsEveryLimitExactly()
    {
        Quota.RequireRoom("web", new ProjectUsage { Vms = 4, VCpus = 6, MemoryMiB = 3072 }, 2, 1024);
        ProjectQuota.Unlimited.RequireRoom("web", new ProjectUsage { Vms = int.MaxValue, VCpus = int.MaxValue, MemoryMiB = long.MaxValue / 2 }, 64, 1 << 20);
    }

    [Fact]
    public void RequireRoom_AZeroQuotaRefusesTheFirstVm()
    {
        var error = Assert.Throws<FabricException>(() => new ProjectQuota { Vms = 0 }.RequireRoom("frozen", new ProjectUsage(), 1, 64));
        Assert.Equal("project 'frozen' quota vms: 0 in use + 1 asked > 0", error.Message);
    }
}
