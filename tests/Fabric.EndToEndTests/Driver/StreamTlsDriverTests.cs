using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// QEMU's streams between hosts over TLS (issue 12): a live migration and an NBD disk export each use the hosts'
/// certificates from one fabric CA, checked on both ends; a host whose certificate comes from another CA, and a client
/// that does not speak TLS, are refused. Real QEMU processes on loopback.
/// </summary>
public sealed class StreamTlsDriverTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "tls-1";
    private static readonly IPAddress Loopback = IPAddress.Loopback;
    private static readonly TimeSpan MigrationEnd = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    private static readonly Regex Tick = new("^tick ", RegexOptions.CultureInvariant);

    [Fact]
    public async Task Migration_UsesTls_OnBothSides_AndLeavesNoKeyBehind()
    {
        var pki = TestPki.Create(Path.Combine(Sandbox.DataDirectory, "..", Path.GetFileName(Sandbox.DataDirectory) + "-pki"));
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync(o => o.StreamTls = HostFiles(pki, "host-a"));
        var target = new Harness(await targetSandbox.CreateDriverAsync(o => o.StreamTls = HostFiles(pki, "host-b")));
        var spec = QemuSandbox.Tiny(Vm);
        await source.LaunchAsync(spec);
        await source.Console(Vm).WaitForAsync(Tick, TinyBoot);
        await target.Driver.LaunchAsync(spec with { Incoming = true }, CancellationToken.None);

        await MigrateAsync(source, target);
        var sent = await WaitForMigrationAsync(source, p => p.IsFinished);
        var received = await WaitForMigrationAsync(target, p => p.IsFinished);
        Output.WriteLine($"source: {sent.Status}, tls-creds '{sent.TlsCredentials}'; target: {received.Status}, tls-creds '{received.TlsCredentials}'");
        Assert.Equal("completed", sent.Status);
        Assert.Equal("completed", received.Status);
        Assert.Equal("fabric-tls-client", sent.TlsCredentials);
        Assert.Equal("fabric-tls-server", received.TlsCredentials);

        // QEMU read its credentials when they were created; the copies in the VMs' directories are gone.
        Assert.False(Directory.Exists(Path.Combine(VmPaths.For(Sandbox.DataDirectory, Vm).Directory, "tls")));
        Assert.False(Directory.Exists(Path.Combine(VmPaths.For(targetSandbox.DataDirectory, Vm).Directory, "tls")));
    }

    [Fact]
    public async Task Migration_ToAHostOfAnotherCa_IsRefused_AndTheGuestRunsOnTheSource()
    {
        var pki = TestPki.Create(Path.Combine(Sandbox.DataDirectory, "..", Path.GetFileName(Sandbox.DataDirectory) + "-pki"));
        var foreign = TestPki.Create(Path.Combine(Sandbox.DataDirectory, "..", Path.GetFileName(Sandbox.DataDirectory) + "-foreign"), "foreign-ca");
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync(o => o.StreamTls = HostFiles(pki, "host-a"));
        var target = new Harness(await targetSandbox.CreateDriverAsync(o => o.StreamTls = HostFiles(foreign, "host-b")));
        var spec = QemuSandbox.Tiny(Vm);
        await source.LaunchAsync(spec);
        var ticks = source.Console(Vm);
        await ticks.WaitForAsync(Tick, TinyBoot);
        await target.Driver.LaunchAsync(spec with { Incoming = true }, CancellationToken.None);

        await MigrateAsync(source, target);
        var sent = await WaitForMigrationAsync(source, p => p.IsFinished);
        Output.WriteLine($"source: {sent.Status} ({sent.Error}), guest {sent.RunState}");
        Assert.Equal("failed", sent.Status);
        Assert.Equal("running", sent.RunState);
        await ticks.DrainAsync();
        await ticks.WaitForAsync(Tick, NextTick);
    }

    [Fact]
    public async Task DiskExport_OverTls_RefusesAPlainNbdClient_AndMirrorsToAFabricPeer()
    {
        var pki = TestPki.Create(Path.Combine(Sandbox.DataDirectory, "..", Path.GetFileName(Sandbox.DataDirectory) + "-pki"));
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync(o => o.StreamTls = HostFiles(pki, "host-a"));
        var target = new Harness(await targetSandbox.CreateDriverAsync(o => o.StreamTls = HostFiles(pki, "host-b")));
        var spec = QemuSandbox.Tiny(Vm);
        await source.LaunchAsync(spec with { Disks = [Disk(await CreateDiskAsync(Sandbox.DisksDirectory, "source"))] });
        await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await CreateDiskAsync(targetSandbox.DisksDirectory, "target"))] }, CancellationToken.None);
        var endpoint = await Mirror(target).ExportDisksAsync(Vm, Loopback.ToString(), [0], CancellationToken.None);

        var port = IPEndPoint.Parse(endpoint).Port;
        var (exitCode, text) = await ToolAsync("qemu-img", "info", "--image-opts", $"driver=nbd,host=127.0.0.1,port={port},export=disk0");
        Output.WriteLine($"plain NBD client: exit {exitCode}: {text}");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("TLS", text, StringComparison.OrdinalIgnoreCase);

        await Mirror(source).StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        var deadline = DateTime.UtcNow + MigrationEnd;
        DiskMirrorProgress progress;
        while (!(progress = Assert.Single(await Mirror(source).QueryMirrorAsync(Vm, CancellationToken.None))).Ready)
        {
            Assert.True(progress.Error is null, $"the mirror failed: {progress.Error}");
            Assert.True(DateTime.UtcNow < deadline, $"the mirror was not ready within {MigrationEnd.TotalSeconds:0} s: {progress}");
            await Task.Delay(Poll);
        }

        Output.WriteLine($"mirror over TLS ready: {progress.CopiedBytes} of {progress.TotalBytes} bytes");
        await Mirror(source).EndMirrorAsync(Vm, CancellationToken.None);
        await Mirror(target).EndExportAsync(Vm, CancellationToken.None);
    }

    private static StreamTlsFiles HostFiles(TestPki pki, string host)
    {
        var (certificate, key) = pki.IssueHost(host, Loopback);
        return new StreamTlsFiles(pki.CaFile, certificate, key);
    }

    private static async Task MigrateAsync(Harness source, Harness target)
    {
        var features = new MigrationFeatures(Postcopy: false);
        var uri = await Migration(target).ListenAsync(Vm, Loopback.ToString(), features, CancellationToken.None);
        await Migration(source).SendAsync(Vm, uri, new MigrationSettings(features, AutoConverge: false, DowntimeLimit: null, BandwidthBytesPerSecond: null), CancellationToken.None);
    }

    private static async Task<MigrationProgress> WaitForMigrationAsync(Harness host, Func<MigrationProgress, bool> condition)
    {
        var deadline = DateTime.UtcNow + MigrationEnd;
        while (true)
        {
            var progress = await Migration(host).QueryAsync(Vm, CancellationToken.None);
            if (condition(progress))
            {
                return progress;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the migration did not get there within {MigrationEnd.TotalSeconds:0} s: {progress}");
            await Task.Delay(Poll);
        }
    }

    private static ILiveMigration Migration(Harness host) => ((IHypervisorDriver)host.Driver).Capability<ILiveMigration>()!;

    private static IDiskMirror Mirror(Harness host) => ((IHypervisorDriver)host.Driver).Capability<IDiskMirror>()!;

    private static DiskSpec Disk(string path) => new(Slot: 0, path, "qcow2", Serial: "data");

    private static async Task<string> CreateDiskAsync(string directory, string name)
    {
        var path = Path.Combine(directory, $"{name}.qcow2");
        var (exitCode, text) = await ToolAsync("qemu-img", "create", "-q", "-f", "qcow2", path, "16M");
        Assert.True(exitCode == 0, text);
        return path;
    }

    private static async Task<(int ExitCode, string Output)> ToolAsync(string program, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout + await stderr).Trim());
    }
}
