using Fabric.Contracts;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class QemuMemoryOverheadTests
{
    [Theory]
    [InlineData(1, 32, 161)]
    [InlineData(1, 64, 161)]
    [InlineData(1, 256, 164)]
    [InlineData(2, 256, 180)]
    [InlineData(4, 4096, 272)]
    [InlineData(16, 65536, 1424)]
    public void MiB_IsTheMeasuredFormulaWithItsMargin(int vcpus, long memoryMiB, long expected)
    {
        Assert.Equal(expected, QemuMemoryOverhead.MiB(vcpus, memoryMiB));
    }

    [Theory]
    [InlineData(1, 32)]
    [InlineData(1, 256)]
    [InlineData(2, 256)]
    [InlineData(8, 8192)]
    public void MiB_CoversEveryMeasurement(int vcpus, long memoryMiB)
    {
        // The largest overhead measured for the linux guest (2 vCPUs, 118 MiB) with its translation cache full (64 MiB,
        // 48 of them measured in use): the formula must stay above it for every size.
        Assert.True(QemuMemoryOverhead.MiB(vcpus, memoryMiB) >= 118 + (QemuCommandLine.TcgTranslationCacheMiB - 48));
    }

    [Fact]
    public void TheFabricsCopyOfTheFormula_GivesTheDriversNumbers()
    {
        var formula = QemuMemoryOverhead.Formula;
        var carried = new MemoryOverhead(formula.BaseMiB, formula.PerVCpuMiB, formula.PerGiBMiB);

        foreach (var (vcpus, memoryMiB) in new[] { (1, 2L), (1, 1000L), (3, 1025L), (64, 262144L) })
        {
            Assert.Equal(formula.MiB(vcpus, memoryMiB), carried.MiB(vcpus, memoryMiB));
            Assert.Equal(new Resources(vcpus, memoryMiB + formula.MiB(vcpus, memoryMiB)), carried.Charge(new Resources(vcpus, memoryMiB)));
        }
    }

    [Fact]
    public void MemoryOverhead_RoundsAPartGiBUp()
    {
        Assert.Equal(1, new MemoryOverheadFormula(0, 0, 1).MiB(1, 1));
        Assert.Equal(1, new MemoryOverheadFormula(0, 0, 1).MiB(1, 1024));
        Assert.Equal(2, new MemoryOverheadFormula(0, 0, 1).MiB(1, 1025));
    }
}
