using System.Diagnostics;
using Fabric.Hypervisor;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// The page-dirtying guest, driven through the driver: its console lines, and a dump of the walked range through
/// <see cref="IGuestMemory"/> that satisfies the page invariant (docs/guests.md).
/// </summary>
public sealed class MemwalkGuestTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "memwalk-1";
    private const int MemoryMiB = 64;
    private const long MiB = 1024 * 1024;

    /// <summary>A pass line comes when the guest's clock seconds change: about once a second.</summary>
    private static readonly TimeSpan NextPass = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task PausedGuest_DumpOfTheWalkedRangeKeepsThePageInvariant()
    {
        var host = await StartDriverAsync();
        var memory = GuestMemoryOf(host.Driver);
        await host.LaunchAsync(QemuSandbox.Memwalk(Vm, MemoryMiB));
        var console = host.Console(Vm);

        var boot = (await console.WaitForAsync(GuestConsole.Ready(), TinyBoot)).Boot();
        var range = await console.WaitForAsync(GuestConsole.MemwalkRange(), TinyBoot);
        var (address, length) = (range.Hex("base"), range.Hex("size"));
        Output.WriteLine(range.Value);
        Assert.Equal(2 * MiB, address);
        Assert.Equal("4096", range.Groups["stride"].Value);

        // The BIOS reports a little less than 64 MiB (it keeps its tables at the top); the walk ends 1 MiB below
        // that, on a whole MiB.
        Assert.InRange(length, (MemoryMiB - 4) * MiB, (MemoryMiB - 3) * MiB);

        var first = await console.WaitForAsync(GuestConsole.Pass(), NextPass);
        var second = await console.WaitForAsync(GuestConsole.Pass(), NextPass);
        Output.WriteLine($"{first.Value} / {second.Value}");
        Assert.Equal(boot, first.Boot());
        Assert.Equal(boot, second.Boot());
        Assert.True(second.Count() > first.Count(), $"the pass count did not grow: {first.Value}, then {second.Value}");

        await host.Driver.PauseAsync(Vm, CancellationToken.None);
        var dumping = Stopwatch.StartNew();
        var path = await memory.DumpAsync(Vm, address, length, CancellationToken.None);
        Output.WriteLine($"dumped {length / MiB} MiB in {dumping.ElapsedMilliseconds} ms");
        Assert.Equal(Path.Combine(Fabric.Hypervisor.Qemu.VmPaths.For(Sandbox.DataDirectory, Vm).RunDirectory, IGuestMemory.DumpFileName), path);
        var dump = await File.ReadAllBytesAsync(path);

        var result = MemwalkCheck.Check(dump, length);
        Output.WriteLine(result.Description);
        Assert.True(result.Ok, result.Description);
        Assert.Equal(length / MemwalkCheck.PageSize, result.Pages);

        // Paused means no writes: a second dump is the same bytes.
        var again = await File.ReadAllBytesAsync(await memory.DumpAsync(Vm, address, length, CancellationToken.None));
        Assert.True(dump.AsSpan().SequenceEqual(again), "guest memory changed while the VM was paused");

        // One flipped byte at offset 0 of a page is caught, at that page.
        var corrupt = result.Pages / 3;
        dump[corrupt * MemwalkCheck.PageSize] ^= 0x80;
        var refused = MemwalkCheck.Check(dump, length);
        Output.WriteLine(refused.Description);
        Assert.False(refused.Ok);
        Assert.Equal(corrupt, refused.FirstBadPage);

        await host.Driver.ResumeAsync(Vm, CancellationToken.None);
        var next = await console.WaitForAsync(GuestConsole.Pass(), NextPass);
        Assert.Equal(boot, next.Boot());
        Assert.True(next.Count() > second.Count(), $"the walk did not go on after resume: {second.Value}, then {next.Value}");
    }

    [Fact]
    public async Task Dump_RefusesABadAddressOrLengthAndAVmWithoutAProcess()
    {
        var host = await StartDriverAsync();
        var memory = GuestMemoryOf(host.Driver);

        var address = await Assert.ThrowsAsync<HypervisorException>(() => memory.DumpAsync(Vm, -1, 4096, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.InvalidRequest, address.Kind);
        Assert.StartsWith("address ", address.Message, StringComparison.Ordinal);

        foreach (var length in new[] { -1L, IGuestMemory.MaxDumpLength + 1 })
        {
            var refused = await Assert.ThrowsAsync<HypervisorException>(() => memory.DumpAsync(Vm, 0, length, CancellationToken.None));
            Assert.Equal(HypervisorErrorKind.InvalidRequest, refused.Kind);
            Assert.StartsWith("length ", refused.Message, StringComparison.Ordinal);
        }

        var missing = await Assert.ThrowsAsync<HypervisorException>(() => memory.DumpAsync(Vm, 0, 4096, CancellationToken.None));
        Assert.Equal(HypervisorErrorKind.NotFound, missing.Kind);
        Assert.False(Directory.Exists(Path.Combine(Sandbox.DataDirectory, "vms", Vm)), "a refused dump created the VM's directory");
    }

    /// <summary>The capability as a host finds it: through <see cref="IHypervisorDriver.Capability{TCapability}"/>.</summary>
    private static IGuestMemory GuestMemoryOf(IHypervisorDriver driver) =>
        driver.Capability<IGuestMemory>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no guest memory");
}
