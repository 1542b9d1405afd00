using Fabric.Hypervisor.Qmp;

namespace Fabric.UnitTests.Qmp;

public sealed class QmpClientEventTests
{
    [Fact]
    public async Task Events_ArriveInOrderWithDataAndTimestamp()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        await peer.EventAsync("STOP");
        await peer.EventAsync("RESUME");
        await peer.EventAsync("SHUTDOWN", """{"guest": true, "reason": "guest-shutdown"}""");

        var stop = await NextEventAsync(client);
        var resume = await NextEventAsync(client);
        var shutdown = await NextEventAsync(client);

        Assert.Equal(["STOP", "RESUME", "SHUTDOWN"], new[] { stop.Name, resume.Name, shutdown.Name });
        Assert.Null(stop.GetString("reason"));
        Assert.Equal("guest-shutdown", shutdown.GetString("reason"));
        Assert.True(shutdown.GetBoolean("guest"));
        Assert.Null(shutdown.GetBoolean("reason")); // a string is not a boolean
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000).AddMilliseconds(250), shutdown.Timestamp);
    }

    [Fact]
    public async Task Events_InterleavedBetweenACommandAndItsResponseAreDelivered()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var stopping = client.ExecuteAsync("stop");
        var command = await peer.ReadCommandAsync();
        await peer.EventAsync("STOP");
        await peer.ReturnAsync(command.Id);
        await stopping.WaitAsync(FakeQmpServer.Patience);

        // The event was read before the response, so it is already waiting.
        Assert.True(client.Events.TryRead(out var stop));
        Assert.Equal("STOP", stop.Name);
        Assert.False(client.Events.TryRead(out _));
    }

    [Fact]
    public async Task Events_AreNotMistakenForResponses()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var powerdown = client.ExecuteAsync("system_powerdown");
        var command = await peer.ReadCommandAsync();
        await peer.EventAsync("POWERDOWN");
        await peer.EventAsync("SHUTDOWN", """{"guest": true, "reason": "guest-shutdown"}""");

        Assert.Equal("POWERDOWN", (await NextEventAsync(client)).Name);
        Assert.Equal("SHUTDOWN", (await NextEventAsync(client)).Name);
        Assert.False(powerdown.IsCompleted);

        await peer.ReturnAsync(command.Id);
        await powerdown.WaitAsync(FakeQmpServer.Patience);
    }

    [Fact]
    public async Task Events_SentBeforeQemuExitsAreKeptAndThenTheStreamCompletes()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        await peer.EventAsync("SHUTDOWN", """{"guest": false, "reason": "host-qmp-quit"}""");
        peer.Close();
        await client.Closed.WaitAsync(FakeQmpServer.Patience);

        using var patience = new CancellationTokenSource(FakeQmpServer.Patience);
        var events = new List<QmpEvent>();
        await foreach (var e in client.Events.ReadAllAsync(patience.Token))
        {
            events.Add(e);
        }

        var shutdown = Assert.Single(events);
        Assert.Equal("host-qmp-quit", shutdown.GetString("reason"));
        Assert.False(shutdown.GetBoolean("guest"));
    }

    private static async Task<QmpEvent> NextEventAsync(QmpClient client) =>
        await client.Events.ReadAsync().AsTask().WaitAsync(FakeQmpServer.Patience);
}
