using System.Net;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Fabric.EndToEndTests.Storage;
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
    private static readonly Regex Tick = new("^tick ", RegexOptions.CultureInvariant);

    [Fact]
    public async Task Migration_UsesTls_OnBothSides_LeavesNoKeyBehind_AndTheArrivedGuestCanBeSnapshotted()
    {
        var pki = TestPki.Create(Path.Combine(Sandbox.DataDirectory, "..", Path.GetFileName(Sandbox.DataDirectory) + "-pki"));
        await using var targetSandbox = new QemuSandbox(Output);
        var source = await StartDriverAsync(o => o.StreamTls = HostFiles(pki, "host-a"));
        var target = new Harness(await targetSandbox.CreateDriverAsync(o => o.StreamTls = HostFiles(pki, "host-b")));
        var spec = QemuSandbox.Tiny(Vm);
        await source.LaunchAsync(spec);
        await source.Console(Vm).WaitForAsync(Tick, TinyBoot);
        await target.Driver.LaunchAsync(spec with { Incoming = true }, CancellationToken.None);

        await source.SendMemoryAsync(target, Vm);
        var sent = await source.WaitForMigrationAsync(Vm, MigrationEnd);
        var received = await target.WaitForMigrationAsync(Vm, MigrationEnd);
        Output.WriteLine($"source: {sent.Status}, tls-creds '{sent.TlsCredentials}'; target: {received.Status}, tls-creds '{received.TlsCredentials}'");
        Assert.Equal("completed", sent.Status);
        Assert.Equal("completed", received.Status);
        Assert.Equal("fabric-tls-client", sent.TlsCredentials);
        Assert.Equal("fabric-tls-server", received.TlsCredentials);

        // QEMU read its credentials when they were created; the copies in the VMs' directories are gone.
        Assert.False(Directory.Exists(Path.Combine(VmPaths.For(Sandbox.DataDirectory, Vm).Directory, "tls")));
        Assert.False(Directory.Exists(Path.Combine(VmPaths.For(targetSandbox.DataDirectory, Vm).Directory, "tls")));

        // The target still holds its server credentials as its migration parameter; a snapshot's local stream must
        // not try TLS with them ("Expected TLS credentials for a client endpoint", seen in ./fabric demo).
        await target.Driver.ResumeAsync(Vm, CancellationToken.None);
        var snapshot = await ((ISnapshots)target.Driver).CreateSnapshotAsync(Vm, "after-move", CancellationToken.None);
        Assert.True(snapshot.File.SizeBytes > 0, $"the snapshot after the move is empty: {snapshot}");
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

        await source.SendMemoryAsync(target, Vm);
        var sent = await source.WaitForMigrationAsync(Vm, MigrationEnd);
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
        await source.LaunchAsync(spec with { Disks = [Disk(await StorageTools.CreateQcow2Async(Sandbox.DisksDirectory, "source", "16M"))] });
        await target.Driver.LaunchAsync(spec with { Incoming = true, Disks = [Disk(await StorageTools.CreateQcow2Async(targetSandbox.DisksDirectory, "target", "16M"))] }, CancellationToken.None);
        var endpoint = await target.Driver.ExportDisksAsync(Vm, Loopback.ToString(), [0], CancellationToken.None);

        var port = IPEndPoint.Parse(endpoint).Port;
        var plain = await StorageTools.TryRunAsync("qemu-img", "info", "--image-opts", $"driver=nbd,host=127.0.0.1,port={port},export=disk0");
        var text = plain.Output + plain.Error;
        Output.WriteLine($"plain NBD client: exit {plain.ExitCode}: {text}");
        Assert.NotEqual(0, plain.ExitCode);
        Assert.Contains("TLS", text, StringComparison.OrdinalIgnoreCase);

        await source.Driver.StartMirrorAsync(Vm, endpoint, [0], bandwidthBytesPerSecond: null, CancellationToken.None);
        var progress = await source.WaitForMirrorAsync(Vm, MigrationEnd, p => p.Ready);
        Output.WriteLine($"mirror over TLS ready: {progress.CopiedBytes} of {progress.TotalBytes} bytes");
        await source.Driver.EndMirrorAsync(Vm, CancellationToken.None);
        await target.Driver.EndExportAsync(Vm, CancellationToken.None);
    }

    private static StreamTlsFiles HostFiles(TestPki pki, string host)
    {
        var (certificate, key) = pki.IssueHost(host, Loopback);
        return new StreamTlsFiles(pki.CaFile, certificate, key);
    }

    private static DiskSpec Disk(string path) => new(Slot: 0, path, "qcow2", Serial: "data");
}
