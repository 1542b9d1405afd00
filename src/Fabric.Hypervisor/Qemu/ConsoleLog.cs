using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// A VM's serial console output on disk, kept within a <see cref="ConsoleLogLimit"/> by copy-truncate rotation while
/// QEMU writes it, and read by logical offset (see <see cref="ConsoleLogExtent"/>).
/// </summary>
/// <remarks>
/// <para>
/// QEMU opens <c>console.log</c> with O_APPEND (<c>logappend=on</c>), so every write lands at the file's current end:
/// after the driver truncates the file under the running process, QEMU's next byte goes to offset 0 (with
/// <c>logappend=off</c> it would go to its old position, leaving a hole). A rotation copies the newest part of
/// <c>console.log</c> to <c>console.log.1</c>, truncates <c>console.log</c>, and records in
/// <c>console.log.state</c> how many bytes have left <c>console.log</c> in all, which keeps logical offsets growing.
/// QEMU writes the log one byte per write, so what the guest prints between the copy's last read and the truncation
/// (one system call apart) is lost: a few bytes at most, per rotation.
/// </para>
/// <para>
/// Steps, each safe to interrupt (<see cref="Recover"/> finishes or undoes them at the next check): delete the old
/// <c>console.log.1</c>; create <c>console.log.1.new</c> and record the rotation's cut in the state; copy from the
/// cut to the end into it; truncate <c>console.log</c>; rename the copy to <c>console.log.1</c>; record the new start.
/// </para>
/// <para>
/// One instance per watched process (and a short-lived one to read the log of a VM no process is watched for). Its
/// lock orders reads, rotations and the reset at launch, so a reader never sees a rotation half done. A process has one driver (the data directory lock), so no other process rotates its files.
/// </para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Its SemaphoreSlim never allocates a wait handle (no AvailableWaitHandle), so there is nothing to release.")]
internal sealed partial class ConsoleLog(string vm, VmPaths paths, ConsoleLogLimit limit, ILogger logger)
{
    /// <summary>The least time between two checks while the guest writes: bounds what the checks cost.</summary>
    public static readonly TimeSpan MinCheckInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the log is checked without console output (the driver's console link may be down).</summary>
    public static readonly TimeSpan PeriodicCheck = TimeSpan.FromSeconds(1);

    private const int CopyBuffer = 64 * 1024;

    /// <summary>The most <c>qemu.log</c> may grow to before it is cut back.</summary>
    internal const long QemuLogLimit = 1 << 20;

    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _failing;

    private string Current => paths.ConsoleLog;

    private string Rotated => paths.RotatedConsoleLog;

    private string RotatedNew => paths.RotatedConsoleLog + ".new";

    private string State => paths.ConsoleLogState;

    /// <summary>Reads from a logical offset (see <see cref="ConsoleLogExtent.Locate"/>).</summary>
    public async Task<ConsoleRead> ReadAsync(long offset, int maxBytes, Guid instance, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var slice = Extent().Locate(offset, maxBytes);
            var data = await ReadAsync(slice.File == ConsoleLogFile.Rotated ? Rotated : Current, slice.Position, slice.Count, cancellationToken).ConfigureAwait(false);
            return new ConsoleRead(data, slice.Offset, slice.Offset + data.Length, instance);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Deletes the previous process's console files (QEMU appends, so a new process must find none) and creates an
    /// empty <c>console.log</c> for <paramref name="uid"/> (0600): the VM's directory is root's, so QEMU could not create it.
    /// </summary>
    public void StartFresh(int uid, int gid)
    {
        _lock.Wait();
        try
        {
            foreach (var file in new[] { Current, RotatedNew, Rotated, State, State + ".tmp" })
            {
                File.Delete(file);
            }

            Linux.FileSystem.CreateExclusive(Current);
            Confinement.Ownership.Set(Current, uid, gid, OwnerReadWrite);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// While <paramref name="writing"/> holds, keeps the log within its limit: checks at once (the log may have grown
    /// while no driver watched), then after console <paramref name="output"/>, at most every
    /// <see cref="MinCheckInterval"/>, and every <see cref="PeriodicCheck"/> without output. Ends when
    /// <paramref name="writing"/> no longer holds or <paramref name="detach"/> is cancelled.
    /// </summary>
    public async Task WatchAsync(AsyncPulse output, Func<bool> writing, CancellationToken detach)
    {
        try
        {
            while (writing())
            {
                var next = output.Next;
                TryKeepWithinLimit(writing);
                KeepQemuLogBounded();
                try
                {
                    await next.WaitAsync(PeriodicCheck, detach).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }

                await Task.Delay(MinCheckInterval, detach).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (detach.IsCancellationRequested)
        {
            // Detached: the next driver checks at attach.
        }
    }

    /// <summary>
    /// Finishes an interrupted rotation, then rotates if <c>console.log</c> has reached its share of the limit.
    /// <paramref name="stillOurs"/> is asked under the lock: a watcher whose process has ended must not touch the
    /// files a relaunch has started afresh. Failures are logged (once until the next success), never thrown.
    /// </summary>
    /// <returns>Whether it rotated.</returns>
    public bool TryKeepWithinLimit(Func<bool> stillOurs)
    {
        ArgumentNullException.ThrowIfNull(stillOurs);
        _lock.Wait();
        try
        {
            if (!stillOurs())
            {
                return false;
            }

            Recover();
            var length = LengthOf(Current);
            var rotated = limit.ShouldRotate(length) && Rotate(length);
            _failing = false;
            return rotated;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!_failing)
            {
                LogRotationFailed(logger, vm, ex.Message);
            }

            _failing = true;
            return false;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// <c>qemu.log</c> (QEMU's stderr; root's file, which the launcher's shell opened to append) is started afresh at
    /// each launch and cut back to nothing when it passes <see cref="QemuLogLimit"/>, checked with the console log: a
    /// QEMU that floods its stderr cannot fill the host's disk. Its next line lands at offset 0 (O_APPEND).
    /// </summary>
    private void KeepQemuLogBounded()
    {
        try
        {
            if (Linux.FileSystem.Lstat(paths.QemuLog) is { Kind: Linux.FileKind.Regular } facts && facts.Size > QemuLogLimit)
            {
                using var log = Linux.FileSystem.OpenNoFollowReadWrite(paths.QemuLog);
                RandomAccess.SetLength(log, 0);
            }
        }
        catch (IOException)
        {
            // The next check tries again.
        }
    }

    private ConsoleLogExtent Extent() =>
        new(ConsoleLogState.Read(State).Start, LengthOf(Rotated), LengthOf(Current));

    private bool Rotate(long length)
    {
        var started = Stopwatch.GetTimestamp();
        var start = ConsoleLogState.Read(State).Start;
        long end;
        long from;
        using (var current = OpenCurrent())
        {
            if (current is null)
            {
                return false;
            }

            from = limit.KeepFrom(length, (position, buffer) => RandomAccess.Read(current, buffer, position));

            // The oldest output goes first, so the files never hold more than the limit, even while rotating.
            File.Delete(Rotated);
            File.Delete(RotatedNew);
            Linux.FileSystem.CreateExclusive(RotatedNew); // root 0600: the console's output is the VM's alone
            using (var copy = File.OpenHandle(RotatedNew, FileMode.Open, FileAccess.Write))
            {
                // Recorded once the copy exists: a recorded cut without a copy means the copy was renamed.
                new ConsoleLogState(start, RotatingFrom: from).Write(State);
                end = CopyToEnd(current, from, copy);

                // The window in which a byte QEMU writes is lost: between the copy's last read and this.
                RandomAccess.SetLength(current, 0);
            }
        }

        File.Move(RotatedNew, Rotated, overwrite: true);
        new ConsoleLogState(start + end, RotatingFrom: null).Write(State);
        var elapsed = Stopwatch.GetElapsedTime(started);
        LogRotated(logger, vm, end - from, from, start + end, elapsed.TotalMilliseconds);
        return true;
    }

    /// <summary>
    /// Finishes or undoes a rotation the driver was stopped in. With the cut recorded and the copy still there, the
    /// question is whether <c>console.log</c> was truncated: if it still holds the copied bytes at the cut, it was
    /// not, and the copy goes. (A guest that printed the same bytes again, at the same place, after a truncation would
    /// be taken for one not truncated, and its offsets would restart lower: a follower then hears of a new log.)
    /// </summary>
    private void Recover()
    {
        var state = ConsoleLogState.Read(State);
        var copied = File.Exists(RotatedNew);
        if (state.RotatingFrom is not { } from)
        {
            if (copied)
            {
                File.Delete(RotatedNew); // Stopped before the rotation recorded its cut: nothing else changed.
            }

            return;
        }

        if (copied && !TruncatedSince(from))
        {
            File.Delete(RotatedNew);
            (state with { RotatingFrom = null }).Write(State);
            LogRotationUndone(logger, vm);
            return;
        }

        if (copied)
        {
            File.Move(RotatedNew, Rotated, overwrite: true);
        }

        var start = state.Start + from + LengthOf(Rotated);
        new ConsoleLogState(start, RotatingFrom: null).Write(State);
        LogRotationFinished(logger, vm, start);
    }

    private bool TruncatedSince(long from)
    {
        using var current = OpenCurrent();
        using var copy = Linux.FileSystem.OpenNoFollow(RotatedNew);
        var copied = RandomAccess.GetLength(copy);
        if (current is null || RandomAccess.GetLength(current) < from + copied)
        {
            return true;
        }

        var expected = new byte[CopyBuffer];
        var actual = new byte[CopyBuffer];
        for (long done = 0; done < copied;)
        {
            var count = RandomAccess.Read(copy, expected, done);
            if (count == 0 || RandomAccess.Read(current, actual.AsSpan(0, count), from + done) != count || !expected.AsSpan(0, count).SequenceEqual(actual.AsSpan(0, count)))
            {
                return true;
            }

            done += count;
        }

        return false;
    }

    /// <summary>Copies from <paramref name="from"/> until a read finds nothing more, and returns that end.</summary>
    private static long CopyToEnd(SafeFileHandle source, long from, SafeFileHandle destination)
    {
        var buffer = new byte[CopyBuffer];
        var position = from;
        int count;
        while ((count = RandomAccess.Read(source, buffer, position)) > 0)
        {
            RandomAccess.Write(destination, buffer.AsSpan(0, count), position - from);
            position += count;
        }

        return position;
    }

    /// <summary>
    /// <c>console.log</c>, the VM uid's file, opened without following a symlink and only when it is a regular file;
    /// what it holds is the guest's and QEMU's, never trusted beyond being bytes.
    /// </summary>
    private SafeFileHandle? OpenCurrent() => OpenRegular(Current, write: true);

    private static SafeFileHandle? OpenRegular(string path, bool write)
    {
        SafeFileHandle handle;
        try
        {
            handle = write ? Linux.FileSystem.OpenNoFollowReadWrite(path) : Linux.FileSystem.OpenNoFollow(path);
        }
        catch (Linux.SystemCallException ex) when (ex.Errno is Linux.Native.ENOENT or Linux.Native.ENOTDIR)
        {
            return null;
        }

        if (Linux.FileSystem.Fstat(handle, path).Kind != Linux.FileKind.Regular)
        {
            handle.Dispose();
            throw new IOException($"'{path}' is not a regular file");
        }

        return handle;
    }

    /// <summary>Reads up to <paramref name="count"/> bytes (fewer if the file changed since it was measured).</summary>
    private static async Task<byte[]> ReadAsync(string path, long position, int count, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return [];
        }

        using var file = OpenRegular(path, write: false);
        if (file is null)
        {
            return [];
        }

        {
            var data = new byte[count];
            var read = 0;
            int n;
            while (read < count && (n = await RandomAccess.ReadAsync(file, data.AsMemory(read), position + read, cancellationToken).ConfigureAwait(false)) > 0)
            {
                read += n;
            }

            return read == count ? data : data[..read];
        }
    }

    /// <summary>The length of the file itself (lstat: a symlink is never followed).</summary>
    private static long LengthOf(string path) =>
        Linux.FileSystem.Lstat(path) is { Kind: Linux.FileKind.Regular } file ? file.Size : 0;

    [LoggerMessage(Level = LogLevel.Debug, Message = "VM {Vm}: console log rotated: kept {Kept} bytes from offset {From} of console.log in console.log.1; console.log now starts at logical offset {Start} ({Milliseconds:0.0} ms)")]
    private static partial void LogRotated(ILogger logger, string vm, long kept, long from, long start, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: an interrupted console log rotation was undone: console.log had not been truncated yet")]
    private static partial void LogRotationUndone(ILogger logger, string vm);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: an interrupted console log rotation was finished: console.log starts at logical offset {Start}")]
    private static partial void LogRotationFinished(ILogger logger, string vm, long start);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: console log rotation failed (the log may grow past its limit until it succeeds): {Error}")]
    private static partial void LogRotationFailed(ILogger logger, string vm, string error);
}

/// <summary>
/// <c>console.log.state</c>: where <c>console.log</c> starts in the console's logical offsets, and the cut of a
/// rotation in progress. Written atomically (temp file, then rename); a missing file means a log never rotated.
/// </summary>
internal sealed record ConsoleLogState(long Start, long? RotatingFrom)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The state of a log that never rotated.</summary>
    private static readonly ConsoleLogState Never = new(0, null);

    public static ConsoleLogState Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ConsoleLogState>(File.ReadAllText(path), Json) ?? Never;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Never;
        }
        catch (JsonException)
        {
            // Offsets restart at 0 (a follower hears of a new log); the next rotation writes a good file.
            return Never;
        }
    }

    public void Write(string path) => RecordFile.WriteText(path, JsonSerializer.Serialize(this, Json));
}
