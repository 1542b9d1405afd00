using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabric.Hypervisor.Qmp;

namespace Fabric.UnitTests.Qmp;

/// <summary>
/// Plays QEMU's side of a QMP socket in a temp directory, one scripted line at a time.
/// Owns the peers it accepts and the clients it connects, and disposes them with itself.
/// </summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    /// <summary>A safety net so a broken client fails a test instead of hanging it; never what a test waits for.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public const string Greeting =
        """{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u7"}, "capabilities": ["oob"]}}""";

    private readonly TempDirectory _directory = new();
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly List<IAsyncDisposable> _owned = [];

    public FakeQmpServer()
    {
        SocketPath = _directory.Combine("qmp.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(4);
    }

    public string SocketPath { get; }

    public async Task<QmpPeer> AcceptAsync()
    {
        using var patience = new CancellationTokenSource(Patience);
        var peer = new QmpPeer(await _listener.AcceptAsync(patience.Token));
        _owned.Add(peer);
        return peer;
    }

    /// <summary>Connects a client and completes the handshake the way QEMU does.</summary>
    public async Task<(QmpClient Client, QmpPeer Peer)> ConnectAsync(TimeSpan? timeout = null)
    {
        var connecting = QmpClient.ConnectAsync(SocketPath, timeout);
        var peer = await AcceptAsync();
        await peer.SendAsync(Greeting);
        var capabilities = await peer.ReadCommandAsync();
        Assert.Equal("qmp_capabilities", capabilities.Execute);
        await peer.ReturnAsync(capabilities.Id);
        var client = await connecting.WaitAsync(Patience);
        _owned.Add(client);
        return (client, peer);
    }

    /// <summary>Connects a client the test drives by hand, disposed with the server if the test does not.</summary>
    public async Task<QmpClient> OwnAsync(Task<QmpClient> connecting)
    {
        var client = await connecting.WaitAsync(Patience);
        _owned.Add(client);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        _listener.Dispose();
        _directory.Dispose();
    }
}

/// <summary>A command as the client wrote it on the wire.</summary>
internal sealed record QmpCommand(string Execute, long Id, JsonObject? Arguments);

/// <summary>The QEMU end of one accepted connection.</summary>
internal sealed class QmpPeer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    public QmpPeer(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false));
    }

    public async Task SendAsync(string line)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
    }

    public Task ReturnAsync(long id, string value = "{}") => SendAsync($$"""{"return": {{value}}, "id": {{id}}}""");

    public Task ErrorAsync(long id, string errorClass, string description) =>
        SendAsync($$$"""{"id": {{{id}}}, "error": {"class": "{{{errorClass}}}", "desc": "{{{description}}}"}}""");

    public Task EventAsync(string name, string? data = null) =>
        SendAsync(data is null
            ? $$"""{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "{{name}}"}"""
            : $$$"""{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "{{{name}}}", "data": {{{data}}}}""");

    /// <summary>The next line the client wrote, or null when it closed the connection.</summary>
    public async Task<string?> ReadLineAsync()
    {
        using var patience = new CancellationTokenSource(FakeQmpServer.Patience);
        return await _reader.ReadLineAsync(patience.Token);
    }

    public async Task<QmpCommand> ReadCommandAsync()
    {
        var line = await ReadLineAsync();
        Assert.NotNull(line);
        var command = Assert.IsType<JsonObject>(JsonNode.Parse(line));
        return new QmpCommand(
            command["execute"]!.GetValue<string>(),
            command["id"]!.GetValue<long>(),
            command["arguments"] as JsonObject);
    }

    /// <summary>QEMU dies: the socket closes under the client.</summary>
    public void Close() => _socket.Close();

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
    }
}
