using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Volumes;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Storage;

/// <summary>
/// How <see cref="QemuImg"/> runs its process, with a stand-in binary: a script that tells its pid through a FIFO (the
/// test's barrier: it reads the pid once the process runs) and then hangs or floods stdout.
/// </summary>
public sealed class QemuImgTests : IDisposable
{
    private readonly string _directory = TestDirectories.Create();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Cancellation_KillsTheProcess()
    {
        var (qemuImg, fifo) = await StandInAsync("exec sleep 600", TimeSpan.FromMinutes(5));
        using var cancel = new CancellationTokenSource();

        var info = qemuImg.InfoAsync("/nowhere.qcow2", "qcow2", cancel.Token);
        var pid = int.Parse(await File.ReadAllTextAsync(fifo), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Processes.IsAlive(pid));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => info);
        Assert.False(Processes.IsAlive(pid));
    }

    [Fact]
    public async Task Timeout_KillsTheProcessAndFails()
    {
        // Long enough for the stand-in to reach its FIFO (whose reader, this test, would otherwise wait for ever).
        var (qemuImg, fifo) = await StandInAsync("exec sleep 600", TimeSpan.FromSeconds(2));

        var info = qemuImg.InfoAsync("/nowhere.qcow2", "qcow2", CancellationToken.None);
        var pid = int.Parse(await File.ReadAllTextAsync(fifo), System.Globalization.CultureInfo.InvariantCulture);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => info);
        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains("did not finish within", error.Message, StringComparison.Ordinal);
        Assert.False(Processes.IsAlive(pid));
    }

    [Fact]
    public async Task OutputBeyondTheLimit_KillsTheProcessAndFails()
    {
        var (qemuImg, fifo) = await StandInAsync("exec yes '{}'", TimeSpan.FromMinutes(5));

        var info = qemuImg.InfoAsync("/nowhere.qcow2", "qcow2", CancellationToken.None);
        var pid = int.Parse(await File.ReadAllTextAsync(fifo), System.Globalization.CultureInfo.InvariantCulture);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => info);
        Assert.Contains("printed more than 65536 characters", error.Message, StringComparison.Ordinal);
        Assert.False(Processes.IsAlive(pid));
    }

    [Fact]
    public async Task TheArgumentsAreAListNotAShellString()
    {
        var (qemuImg, fifo) = await StandInAsync("printf '%s\\n' \"$@\" >&2; exit 3", TimeSpan.FromMinutes(5));
        var path = Path.Combine(_directory, "a b; touch pwned.qcow2");

        var info = qemuImg.InfoAsync(path, "qcow2", CancellationToken.None);
        await File.ReadAllTextAsync(fifo);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => info);
        Assert.Equal($"qemu-img info {path}: info --output=json -f qcow2 -U {path}", error.Message);
        Assert.False(File.Exists(Path.Combine(_directory, "pwned.qcow2")));
    }

    [Fact]
    public async Task AMissingBinary_FailsSayingSo()
    {
        var qemuImg = new QemuImg(new QemuImgOptions { Binary = Path.Combine(_directory, "no-such-qemu-img") });

        var error = await Assert.ThrowsAsync<HypervisorException>(() => qemuImg.InfoAsync("/x.qcow2", "qcow2", CancellationToken.None));

        Assert.Equal(HypervisorErrorKind.Failed, error.Kind);
        Assert.Contains("cannot run", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_RunsUnderResourceLimits()
    {
        // The real prlimit, then a stand-in qemu-img that shows the limits it runs under.
        var (qemuImg, fifo) = await StandInAsync("grep -E 'Max (cpu time|address space)' /proc/self/limits >&2; exit 1", TimeSpan.FromMinutes(5));

        var probe = qemuImg.ProbeAsync("/x.raw", CancellationToken.None);
        await File.ReadAllTextAsync(fifo);

        var error = await Assert.ThrowsAsync<HypervisorException>(() => probe);
        Assert.Matches(@"Max cpu time\s+30\s+30\s+seconds", error.Message);
        Assert.Matches(@"Max address space\s+1073741824\s+1073741824\s+bytes", error.Message);
    }

    /// <summary>A stand-in qemu-img that writes its pid into a FIFO, then runs <paramref name="then"/>.</summary>
    private async Task<(QemuImg QemuImg, string Fifo)> StandInAsync(string then, TimeSpan timeout)
    {
        var fifo = Path.Combine(_directory, "pid.fifo");
        await StorageTools.RunAsync("mkfifo", fifo);
        var binary = Script("qemu-img", $"echo $$ > '{fifo}'\n{then}");
        return (new QemuImg(new QemuImgOptions { Binary = binary, InfoTimeout = timeout, MaxOutputChars = 65536 }), fifo);
    }

    private string Script(string name, string body)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, $"#!/bin/sh\n{body}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
