using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// An asynchronous QMP client over a UNIX socket: reads the greeting, negotiates capabilities, correlates each
/// command with its response by <c>id</c>, and delivers asynchronous events on <see cref="Events"/>.
/// When QEMU goes away every pending command fails with <see cref="QmpConnectionClosedException"/>.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;
    private readonly TimeSpan _defaultTimeout;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, PendingCommand> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateUnbounded<QmpEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _readLoop = Task.CompletedTask;
    private long _nextId;
    private volatile string? _closeReason;

    private QmpClient(Socket socket, TimeSpan defaultTimeout)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
        _defaultTimeout = defaultTimeout;
    }

    /// <summary>QEMU's version from the greeting, e.g. <c>7.2.22</c>.</summary>
    public string Version { get; private set; } = "";

    /// <summary>Asynchronous events in arrival order; completes when the connection closes.</summary>
    public ChannelReader<QmpEvent> Events => _events.Reader;

    /// <summary>Completes when the connection has closed, for whatever reason.</summary>
    public Task Closed => _closed.Task;

    public bool IsClosed => _closeReason is not null;

    /// <summary>Connects, reads the greeting and leaves capabilities negotiation mode.</summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var limit = timeout ?? DefaultTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        QmpClient? client = null;
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
            client = new QmpClient(socket, limit);
            await client.HandshakeAsync(deadline.Token).ConfigureAwait(false);
            return client;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await DisposeQuietly(client, socket).ConfigureAwait(false);
            throw new QmpTimeoutException("greeting", limit);
        }
        catch
        {
            await DisposeQuietly(client, socket).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="command"/> and returns its <c>return</c> value.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        ThrowIfClosed(command);

        var id = Interlocked.Increment(ref _nextId);
        var pending = new PendingCommand(command);
        _pending[id] = pending;

        // The read loop may have failed all pending commands just before ours was added.
        if (_closeReason is { } reason)
        {
            _pending.TryRemove(id, out _);
            throw new QmpConnectionClosedException($"QMP '{command}' not sent: {reason}");
        }

        var limit = timeout ?? _defaultTimeout;
        try
        {
            await WriteAsync(Serialize(command, arguments, id), cancellationToken).ConfigureAwait(false);
            return await pending.Completion.Task.WaitAsync(limit, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new QmpTimeoutException(command, limit);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // ObjectDisposedException: the client was disposed while the command was being sent.
            throw new QmpConnectionClosedException($"QMP '{command}' could not be sent: {ex.Message}", ex);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already disconnected.
        }
        catch (ObjectDisposedException)
        {
        }

        await _readLoop.ConfigureAwait(false);
        _reader.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
        _writeLock.Dispose();
    }

    private static async Task DisposeQuietly(QmpClient? client, Socket socket)
    {
        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            socket.Dispose();
        }
    }

    private static byte[] Serialize(string command, JsonObject? arguments, long id)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("execute", command);
            if (arguments is not null)
            {
                writer.WritePropertyName("arguments");
                arguments.WriteTo(writer);
            }

            writer.WriteNumber("id", id);
            writer.WriteEndObject();
        }

        var bytes = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(bytes);
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var greeting = await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new QmpConnectionClosedException("QEMU closed the QMP socket before its greeting");
        try
        {
            using var document = JsonDocument.Parse(greeting);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("QMP", out var qmp))
            {
                throw new QmpException($"not a QMP greeting: {Truncate(greeting)}");
            }

            Version = ReadVersion(qmp);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            // Not JSON at all, or JSON of another shape (e.g. a version that is not a number).
            throw new QmpException($"not a QMP greeting: {Truncate(greeting)}", ex);
        }

        _readLoop = Task.Run(ReadLoopAsync, CancellationToken.None);
        await ExecuteAsync("qmp_capabilities", cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static string ReadVersion(JsonElement qmp)
    {
        if (qmp.TryGetProperty("version", out var version) && version.TryGetProperty("qemu", out var qemu))
        {
            return $"{qemu.GetProperty("major").GetInt32()}.{qemu.GetProperty("minor").GetInt32()}.{qemu.GetProperty("micro").GetInt32()}";
        }

        return "unknown";
    }

    private async Task WriteAsync(byte[] message, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        var reason = "QEMU closed the QMP connection (the process exited)";
        try
        {
            while (await _reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.Length > 0)
                {
                    Dispatch(line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
            reason = $"QMP connection lost: {ex.Message}";
        }
        catch (JsonException ex)
        {
            reason = $"QMP sent malformed JSON: {ex.Message}";
        }
        catch (InvalidOperationException ex)
        {
            // Valid JSON of the wrong shape (an array, an event name that is not a string, a non-numeric id).
            reason = $"QMP sent a malformed message: {ex.Message}";
        }
        finally
        {
            Close(reason);
        }
    }

    private void Dispatch(string line)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        if (root.TryGetProperty("event", out var name))
        {
            var data = root.TryGetProperty("data", out var d) ? d.Clone() : default;
            _events.Writer.TryWrite(new QmpEvent(name.GetString() ?? "", data, ReadTimestamp(root)));
            return;
        }

        if (!root.TryGetProperty("id", out var idElement) || !idElement.TryGetInt64(out var id) || !_pending.TryGetValue(id, out var pending))
        {
            return; // An answer to a command that already timed out.
        }

        if (root.TryGetProperty("error", out var error))
        {
            var errorClass = error.TryGetProperty("class", out var c) ? c.GetString() ?? "" : "";
            var description = error.TryGetProperty("desc", out var desc) ? desc.GetString() ?? "" : "";
            pending.Completion.TrySetException(new QmpCommandException(pending.Command, errorClass, description));
        }
        else
        {
            var result = root.TryGetProperty("return", out var r) ? r.Clone() : default;
            pending.Completion.TrySetResult(result);
        }
    }

    private static DateTimeOffset ReadTimestamp(JsonElement root)
    {
        if (root.TryGetProperty("timestamp", out var ts)
            && ts.TryGetProperty("seconds", out var s) && s.TryGetInt64(out var seconds)
            && ts.TryGetProperty("microseconds", out var us) && us.TryGetInt64(out var micros))
        {
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micros * 10);
        }

        return DateTimeOffset.UtcNow;
    }

    private void Close(string reason)
    {
        _closeReason ??= reason;
        foreach (var (_, pending) in _pending)
        {
            pending.Completion.TrySetException(new QmpConnectionClosedException($"QMP '{pending.Command}' got no answer: {_closeReason}"));
        }

        _events.Writer.TryComplete();
        _closed.TrySetResult();
    }

    private void ThrowIfClosed(string command)
    {
        if (_closeReason is { } reason)
        {
            throw new QmpConnectionClosedException($"QMP '{command}' not sent: {reason}");
        }
    }

    private static string Truncate(string text) => text.Length > 200 ? text[..200] + "…" : text;

    private sealed class PendingCommand(string command)
    {
        public string Command { get; } = command;

        public TaskCompletionSource<JsonElement> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
