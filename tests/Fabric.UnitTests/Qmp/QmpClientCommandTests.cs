using System.Text.Json.Nodes;
using Fabric.Hypervisor.Qmp;

namespace Fabric.UnitTests.Qmp;

public sealed class QmpClientCommandTests
{
    [Fact]
    public async Task Execute_WritesOneJsonLineWithArgumentsAndANewId()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var running = client.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = "info status" });
        var command = await peer.ReadCommandAsync();
        await peer.ReturnAsync(command.Id, "\"VM status: running\"");

        Assert.Equal("human-monitor-command", command.Execute);
        Assert.Equal("info status", command.Arguments?["command-line"]?.GetValue<string>());
        Assert.Equal("VM status: running", (await running.WaitAsync(FakeQmpServer.Patience)).GetString());

        var second = client.ExecuteAsync("query-status");
        var next = await peer.ReadCommandAsync();
        await peer.ReturnAsync(next.Id, """{"status": "running", "running": true}""");

        Assert.True(next.Id > command.Id);
        Assert.Null(next.Arguments);
        Assert.Equal("running", (await second.WaitAsync(FakeQmpServer.Patience)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Execute_CorrelatesResponsesAnsweredOutOfOrder()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var status = client.ExecuteAsync("query-status");
        var name = client.ExecuteAsync("query-name");
        var kvm = client.ExecuteAsync("query-kvm");
        var received = new[] { await peer.ReadCommandAsync(), await peer.ReadCommandAsync(), await peer.ReadCommandAsync() };
        Assert.Equal(3, received.Select(c => c.Id).Distinct().Count());
        long IdOf(string execute) => received.Single(c => c.Execute == execute).Id;

        await peer.ReturnAsync(IdOf("query-kvm"), """{"enabled": false, "present": true}""");
        await peer.ReturnAsync(IdOf("query-name"), """{"name": "web-1"}""");
        Assert.False((await kvm.WaitAsync(FakeQmpServer.Patience)).GetProperty("enabled").GetBoolean());
        Assert.Equal("web-1", (await name.WaitAsync(FakeQmpServer.Patience)).GetProperty("name").GetString());
        Assert.False(status.IsCompleted); // its answer has not been sent

        await peer.ReturnAsync(IdOf("query-status"), """{"status": "paused", "running": false}""");
        Assert.Equal("paused", (await status.WaitAsync(FakeQmpServer.Patience)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Execute_SurfacesAnErrorResponseWithClassAndDescription()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var deleting = client.ExecuteAsync("device_del", new JsonObject { ["id"] = "nic0" });
        await peer.ErrorAsync((await peer.ReadCommandAsync()).Id, "DeviceNotFound", "Device 'nic0' not found");

        var error = await Assert.ThrowsAsync<QmpCommandException>(() => deleting.WaitAsync(FakeQmpServer.Patience));
        Assert.Equal("device_del", error.Command);
        Assert.Equal("DeviceNotFound", error.ErrorClass);
        Assert.Equal("Device 'nic0' not found", error.Description);
        Assert.Contains("DeviceNotFound", error.Message, StringComparison.Ordinal);
        Assert.Contains("Device 'nic0' not found", error.Message, StringComparison.Ordinal);

        // An error answers one command; the connection stays usable.
        var status = client.ExecuteAsync("query-status");
        await peer.ReturnAsync((await peer.ReadCommandAsync()).Id, """{"status": "running"}""");
        Assert.Equal("running", (await status.WaitAsync(FakeQmpServer.Patience)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Execute_TimesOutWhenThePeerNeverAnswers()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var unanswered = client.ExecuteAsync("query-status", timeout: TimeSpan.FromMilliseconds(100));
        var ignored = await peer.ReadCommandAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => unanswered.WaitAsync(FakeQmpServer.Patience));
        Assert.Contains("query-status", error.Message, StringComparison.Ordinal);
        Assert.False(client.IsClosed);

        // The late answer is dropped, not mistaken for the next command's.
        var name = client.ExecuteAsync("query-name");
        var next = await peer.ReadCommandAsync();
        await peer.ReturnAsync(ignored.Id, """{"name": "late"}""");
        await peer.ReturnAsync(next.Id, """{"name": "web-1"}""");
        Assert.Equal("web-1", (await name.WaitAsync(FakeQmpServer.Patience)).GetProperty("name").GetString());
    }

    [Fact]
    public async Task Execute_DefaultsToTheTimeoutGivenAtConnect()
    {
        await using var server = new FakeQmpServer();
        // Long enough for the handshake on a loaded machine, which shares the same limit.
        var (client, peer) = await server.ConnectAsync(TimeSpan.FromSeconds(2));

        var unanswered = client.ExecuteAsync("query-status");
        await peer.ReadCommandAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => unanswered.WaitAsync(FakeQmpServer.Patience));
        Assert.Contains("within 2 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_CanBeCancelledWhileWaiting()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();
        using var cancel = new CancellationTokenSource();

        var waiting = client.ExecuteAsync("query-status", cancellationToken: cancel.Token);
        await peer.ReadCommandAsync();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(FakeQmpServer.Patience));
        Assert.False(client.IsClosed);
    }

    [Fact]
    public async Task Execute_RejectsAnEmptyCommand()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => client.ExecuteAsync(""));
    }
}
