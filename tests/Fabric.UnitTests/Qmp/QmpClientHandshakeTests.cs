using Fabric.Hypervisor.Qmp;

namespace Fabric.UnitTests.Qmp;

public sealed class QmpClientHandshakeTests
{
    [Fact]
    public async Task Connect_ReadsTheGreetingThenLeavesNegotiationMode()
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath);
        var peer = await server.AcceptAsync();
        await peer.SendAsync(FakeQmpServer.Greeting);

        var capabilities = await peer.ReadCommandAsync();
        Assert.Equal("qmp_capabilities", capabilities.Execute);
        Assert.Null(capabilities.Arguments);
        Assert.False(connecting.IsCompleted); // not connected until capabilities are acknowledged

        await peer.ReturnAsync(capabilities.Id);
        var client = await server.OwnAsync(connecting);

        Assert.Equal("7.2.22", client.Version);
        Assert.False(client.IsClosed);
    }

    [Theory]
    [InlineData("""{"hello": "world"}""")]
    [InlineData("""{"return": {}}""")]
    [InlineData("SSH-2.0-OpenSSH_9.2p1 Debian-2")]
    [InlineData("[1, 2, 3]")]
    [InlineData("\"QMP\"")]
    [InlineData("""{"QMP": {"version": "seven"}}""")]
    [InlineData("""{"QMP": {"version": {"qemu": {"major": "7", "minor": 2, "micro": 0}}}}""")]
    public async Task Connect_RejectsANonQmpGreeting(string greeting)
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath);
        var peer = await server.AcceptAsync();
        await peer.SendAsync(greeting);

        var error = await Assert.ThrowsAsync<QmpException>(() => connecting.WaitAsync(FakeQmpServer.Patience));

        Assert.Contains("not a QMP greeting", error.Message, StringComparison.Ordinal);
        Assert.Null(await peer.ReadLineAsync()); // sent nothing, and hung up
    }

    [Fact]
    public async Task Connect_ToleratesAGreetingWithoutVersion()
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath);
        var peer = await server.AcceptAsync();
        await peer.SendAsync("""{"QMP": {"capabilities": []}}""");
        await peer.ReturnAsync((await peer.ReadCommandAsync()).Id);

        var client = await server.OwnAsync(connecting);

        Assert.Equal("unknown", client.Version);
    }

    [Fact]
    public async Task Connect_FailsWhenThePeerClosesBeforeItsGreeting()
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath);
        var peer = await server.AcceptAsync();
        peer.Close();

        await Assert.ThrowsAsync<QmpConnectionClosedException>(() => connecting.WaitAsync(FakeQmpServer.Patience));
    }

    [Fact]
    public async Task Connect_TimesOutWithoutAGreeting()
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath, TimeSpan.FromMilliseconds(100));
        var peer = await server.AcceptAsync();

        var error = await Assert.ThrowsAsync<QmpTimeoutException>(() => connecting.WaitAsync(FakeQmpServer.Patience));

        Assert.Contains("greeting", error.Message, StringComparison.Ordinal);
        Assert.Null(await peer.ReadLineAsync());
    }

    [Fact]
    public async Task Connect_TimesOutWhenCapabilitiesAreNeverAcknowledged()
    {
        await using var server = new FakeQmpServer();
        // Long enough for the greeting to be read on a loaded machine: the limit covers the whole handshake.
        var connecting = QmpClient.ConnectAsync(server.SocketPath, TimeSpan.FromSeconds(1));
        var peer = await server.AcceptAsync();
        await peer.SendAsync(FakeQmpServer.Greeting);
        Assert.Equal("qmp_capabilities", (await peer.ReadCommandAsync()).Execute);

        await Assert.ThrowsAsync<QmpTimeoutException>(() => connecting.WaitAsync(FakeQmpServer.Patience));
        Assert.Null(await peer.ReadLineAsync());
    }

    [Fact]
    public async Task Connect_SurfacesARefusedCapabilitiesNegotiation()
    {
        await using var server = new FakeQmpServer();
        var connecting = QmpClient.ConnectAsync(server.SocketPath);
        var peer = await server.AcceptAsync();
        await peer.SendAsync(FakeQmpServer.Greeting);
        await peer.ErrorAsync((await peer.ReadCommandAsync()).Id, "CommandNotFound", "Capabilities negotiation is already complete");

        var error = await Assert.ThrowsAsync<QmpCommandException>(() => connecting.WaitAsync(FakeQmpServer.Patience));

        Assert.Equal("qmp_capabilities", error.Command);
        Assert.Null(await peer.ReadLineAsync());
    }
}
