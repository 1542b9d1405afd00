using Fabric.Hypervisor;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>Launches that cannot succeed fail with a clear error and leave no process, file or record behind.</summary>
public sealed class LaunchFailureTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "bad-1";

    [Fact]
    public async Task Launch_AnUnknownImage_IsAnInvalidRequest()
    {
        var host = await StartDriverAsync();

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            host.Driver.LaunchAsync(QemuSandbox.Tiny(Vm) with { Image = "no-such-image" }, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("no-such-image", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(host);
    }

    [Fact]
    public async Task Launch_WithLessMemoryThanTheImageNeeds_IsAnInvalidRequest()
    {
        var host = await StartDriverAsync();

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            host.Driver.LaunchAsync(QemuSandbox.Linux(Vm) with { MemoryMiB = 1 }, CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("needs at least", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(host);
    }

    [Fact]
    public async Task Launch_ThatQemuRefuses_FailsWithQemusOwnMessage()
    {
        var host = await StartDriverAsync();

        var error = await Assert.ThrowsAsync<HypervisorException>(() =>
            host.Driver.LaunchAsync(QemuSandbox.Tiny(Vm) with { VCpus = 1000 }, CancellationToken.None));

        Output.WriteLine(error.Message);
        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains("Invalid SMP CPUs 1000", error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(host);
    }

    [Fact]
    public async Task Create_WithAQemuBinaryThatDoesNotExist_FailsSayingWhichBinary()
    {
        const string Missing = "/nonexistent/qemu-system-x86_64";

        var error = await Assert.ThrowsAsync<HypervisorException>(() => StartDriverAsync(o => o.QemuBinary = Missing));

        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains(Missing, error.Message, StringComparison.Ordinal);

        // The failed driver holds nothing: a good one can take the directory.
        await AssertNothingLeftAsync(await StartDriverAsync());
    }

    [Fact]
    public async Task Launch_AfterTheQemuBinaryDisappeared_FailsSayingWhichBinary()
    {
        var wrapper = Path.Combine(Sandbox.DataDirectory, "qemu-wrapper");
        await File.WriteAllTextAsync(wrapper, "#!/bin/sh\nexec qemu-system-x86_64 \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var host = await StartDriverAsync(o => o.QemuBinary = wrapper);
        File.Delete(wrapper);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.LaunchAsync(QemuSandbox.Tiny(Vm), CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains(wrapper, error.Message, StringComparison.Ordinal);
        await AssertNothingLeftAsync(host);
    }

    /// <summary>No status, no process, no runtime files, and nothing a restarted driver would report.</summary>
    private async Task AssertNothingLeftAsync(Harness host)
    {
        Assert.Equal(ProcessStatus.Absent(Vm), host.Driver.GetStatus(Vm));
        Assert.Empty(Sandbox.ProcessesUsingDirectory());
        Assert.False(Directory.Exists(Path.Combine(Sandbox.DataDirectory, "vms", Vm)), "the failed launch left its VM directory");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(Sandbox.DataDirectory, "run")));
        Assert.Empty(await host.Driver.AttachAllAsync(CancellationToken.None));
    }
}
