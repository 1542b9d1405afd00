using Fabric.Hypervisor.Qmp;

namespace Fabric.UnitTests.Qmp;

public sealed class QmpClientConnectionLossTests
{
    [Fact]
    public async Task QemuDiesMidCommand_ThePendingCommandFailsAsClosed()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var pending = client.ExecuteAsync("query-status");
        await peer.ReadCommandAsync();
        peer.Close();

        var error = await Assert.ThrowsAsync<QmpConnectionClosedException>(() => pending.WaitAsync(FakeQmpServer.Patience));
        Assert.Contains("query-status", error.Message, StringComparison.Ordinal);
        await client.Closed.WaitAsync(FakeQmpServer.Patience);
        await client.Events.Completion.WaitAsync(FakeQmpServer.Patience);
        Assert.True(client.IsClosed);
    }

    [Fact]
    public async Task QemuDiesMidCommand_EveryPendingCommandFails()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var pending = new[] { client.ExecuteAsync("stop"), client.ExecuteAsync("query-status"), client.ExecuteAsync("cont") };
        for (var i = 0; i < pending.Length; i++)
        {
            await peer.ReadCommandAsync();
        }

        peer.Close();

        foreach (var command in pending)
        {
            await Assert.ThrowsAsync<QmpConnectionClosedException>(() => command.WaitAsync(FakeQmpServer.Patience));
        }
    }

    [Fact]
    public async Task AfterClose_NewCommandsFailAtOnce()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        peer.Close();
        await client.Closed.WaitAsync(FakeQmpServer.Patience);

        var error = await Assert.ThrowsAsync<QmpConnectionClosedException>(() => client.ExecuteAsync("cont"));
        Assert.Contains("not sent", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"return\": {}, \"id\": ")] // cut off mid-object
    [InlineData("not json at all")]
    [InlineData("[1, 2, 3]")] // valid JSON, not an object
    [InlineData("""{"event": 42}""")]
    [InlineData("""{"return": {}, "id": "one"}""")]
    public async Task MalformedLine_ClosesTheConnectionAndFailsPendingCommands(string line)
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var pending = client.ExecuteAsync("query-status");
        await peer.ReadCommandAsync();
        await peer.SendAsync(line);

        var error = await Assert.ThrowsAsync<QmpConnectionClosedException>(() => pending.WaitAsync(FakeQmpServer.Patience));
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
        await client.Closed.WaitAsync(FakeQmpServer.Patience);
        await client.DisposeAsync(); // must not rethrow the read loop's failure
        Assert.Null(await peer.ReadLineAsync());
    }

    [Fact]
    public async Task Dispose_FailsPendingCommandsAndHangsUp()
    {
        await using var server = new FakeQmpServer();
        var (client, peer) = await server.ConnectAsync();

        var pending = client.ExecuteAsync("query-status");
        await peer.ReadCommandAsync();
        await client.DisposeAsync();

        await Assert.ThrowsAsync<QmpConnectionClosedException>(() => pending.WaitAsync(FakeQmpServer.Patience));
        Assert.True(client.IsClosed);
        Assert.Null(await peer.ReadLineAsync());
    }
}
