using System.Text;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.UnitTests.Qemu;

/// <summary>
/// Console log rotation on real files, with the test appending as QEMU would (QEMU's own O_APPEND writes while the
/// driver rotates are covered by the end-to-end ConsoleLogRotationTests).
/// </summary>
public sealed class ConsoleLogTests : IDisposable
{
    private const int Read = 1 << 20;
    private static readonly ConsoleLogLimit Limit = new(ConsoleLogLimit.Minimum);
    private static readonly Guid Instance = Guid.Parse("6c0f4d1e-2b1a-4f7e-9d55-0a7c1e2b3c4d");

    private readonly TempDirectory _temp = new();
    private readonly VmPaths _paths;
    private readonly ConsoleLog _log;
    private readonly StringBuilder _written = new();
    private int _lines;

    public ConsoleLogTests()
    {
        _paths = VmPaths.For(_temp.Path, "vm-1");
        Directory.CreateDirectory(_paths.Directory);
        _log = new ConsoleLog("vm-1", _paths, Limit, NullLogger.Instance);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Read_BeforeAnyRotation_IsTheFileAtItsOwnOffsets()
    {
        Guest("hello\nworld\n");

        var read = await _log.ReadAsync(6, Read, Instance, CancellationToken.None);

        Assert.Equal("world\n", Text(read));
        Assert.Equal((6L, 12L, Instance), (read.Offset, read.NextOffset, read.InstanceId));
    }

    [Fact]
    public async Task Read_WithoutAnyLog_IsEmptyAtZero()
    {
        var read = await _log.ReadAsync(123, Read, Instance, CancellationToken.None);

        Assert.Empty(read.Data);
        Assert.Equal((0L, 0L), (read.Offset, read.NextOffset));
    }

    [Fact]
    public void KeepWithinLimit_BelowHalfTheLimit_LeavesTheLogAlone()
    {
        GuestLines(bytes: Limit.RotateAt - 1);

        Assert.False(_log.TryKeepWithinLimit(() => true));
        Assert.False(File.Exists(_paths.RotatedConsoleLog));
        Assert.Equal(Limit.RotateAt - 1, new FileInfo(_paths.ConsoleLog).Length);
    }

    [Fact]
    public async Task KeepWithinLimit_AtHalfTheLimit_RotatesAndKeepsOffsetsAndTheNewestOutput()
    {
        GuestLines(bytes: Limit.RotateAt + 5000);
        var end = _written.Length;

        Assert.True(_log.TryKeepWithinLimit(() => true));

        Assert.Equal(0, new FileInfo(_paths.ConsoleLog).Length);
        var kept = new FileInfo(_paths.RotatedConsoleLog).Length;
        Assert.InRange(kept, Limit.Keep - 100, Limit.Keep);
        Assert.Equal(new ConsoleLogState(end, null), ConsoleLogState.Read(_paths.ConsoleLogState));

        // Reading from 0 starts at the oldest kept byte, which starts a line, and goes on to the end.
        var all = await ReadAllAsync(0);
        Assert.Equal(end - kept, all.First);
        Assert.Equal(_written.ToString()[(int)(end - kept)..], all.Text);
        Assert.StartsWith("line ", all.Text, StringComparison.Ordinal);

        // What the guest writes next is at the offset where it left off.
        Guest("after the rotation\n");
        var next = await _log.ReadAsync(end, Read, Instance, CancellationToken.None);
        Assert.Equal((end, "after the rotation\n"), (next.Offset, Text(next)));
    }

    [Fact]
    public async Task Read_FollowingNextOffset_SeesEveryByteOnceAcrossManyRotations()
    {
        var followed = new StringBuilder();
        var offset = 0L;
        var rotations = 0;
        for (var round = 0; round < 200; round++)
        {
            GuestLines(bytes: 1000 + (round * 37 % 3000));
            if (_log.TryKeepWithinLimit(() => true))
            {
                rotations++;
            }

            Assert.InRange(OnDisk(), 0, Limit.Bytes + 4000);
            while (true)
            {
                var read = await _log.ReadAsync(offset, 4096, Instance, CancellationToken.None);
                Assert.Equal(offset, read.Offset);
                if (read.Data.Length == 0)
                {
                    break;
                }

                followed.Append(Text(read));
                offset = read.NextOffset;
            }
        }

        Assert.True(rotations >= 10, $"only {rotations} rotations");
        Assert.Equal(_written.Length, offset);
        Assert.Equal(_written.ToString(), followed.ToString());
    }

    [Fact]
    public async Task Read_OfARotatedAwayOffset_StartsAtTheOldestKeptByte()
    {
        GuestLines(bytes: Limit.RotateAt);
        _log.TryKeepWithinLimit(() => true);
        GuestLines(bytes: Limit.RotateAt);
        _log.TryKeepWithinLimit(() => true);
        var oldest = _written.Length - new FileInfo(_paths.RotatedConsoleLog).Length;

        var read = await _log.ReadAsync(100, Read, Instance, CancellationToken.None);

        Assert.Equal(oldest, read.Offset);
        Assert.True(read.Offset > 100);
        Assert.Equal(_written.ToString((int)oldest, read.Data.Length), Text(read));
    }

    [Fact]
    public async Task Read_PastTheEnd_StartsAtTheOldestKeptByte()
    {
        GuestLines(bytes: Limit.RotateAt);
        _log.TryKeepWithinLimit(() => true);
        var oldest = _written.Length - new FileInfo(_paths.RotatedConsoleLog).Length;

        var read = await _log.ReadAsync(_written.Length + 1, Read, Instance, CancellationToken.None);

        Assert.Equal(oldest, read.Offset);
    }

    [Fact]
    public async Task Read_InTheRotatedFile_StopsAtItsEnd()
    {
        GuestLines(bytes: Limit.RotateAt);
        _log.TryKeepWithinLimit(() => true);
        Guest("current\n");
        var start = ConsoleLogState.Read(_paths.ConsoleLogState).Start;

        var tail = await _log.ReadAsync(start - 5, Read, Instance, CancellationToken.None);
        var next = await _log.ReadAsync(tail.NextOffset, Read, Instance, CancellationToken.None);

        Assert.Equal((start - 5, start), (tail.Offset, tail.NextOffset));
        Assert.Equal((start, "current\n"), (next.Offset, Text(next)));
    }

    [Fact]
    public void KeepWithinLimit_ForALogNoLongerOurs_LeavesItAlone()
    {
        GuestLines(bytes: Limit.Bytes);

        Assert.False(_log.TryKeepWithinLimit(() => false));
        Assert.False(File.Exists(_paths.RotatedConsoleLog));
    }

    [Fact]
    public void KeepWithinLimit_AfterTheLogGrewFarPastTheLimit_KeepsOnlyTheNewestPart()
    {
        // A silo was down for a long time: the log grew unwatched.
        GuestLines(bytes: Limit.Bytes * 10);

        Assert.True(_log.TryKeepWithinLimit(() => true));

        Assert.InRange(OnDisk(), 0, Limit.Keep);
        Assert.Equal(_written.Length, ConsoleLogState.Read(_paths.ConsoleLogState).Start);
    }

    [Fact]
    public async Task StartFresh_DeletesEveryConsoleFile_AndLeavesAnEmptyLogForTheNewProcess()
    {
        GuestLines(bytes: Limit.RotateAt);
        _log.TryKeepWithinLimit(() => true);
        Guest("old process\n");

        _log.StartFresh(Environment.UserName == "root" ? 0 : -1, Environment.UserName == "root" ? 0 : -1);

        Assert.Equal([_paths.ConsoleLog], Directory.EnumerateFiles(_paths.Directory, "console.*"));
        Assert.Equal(0, new FileInfo(_paths.ConsoleLog).Length);
        Guest("new process\n");
        var read = await _log.ReadAsync(0, Read, Instance, CancellationToken.None);
        Assert.Equal((0L, "new process\n"), (read.Offset, Text(read)));
    }

    [Fact]
    public async Task Recover_ARotationStoppedBeforeTheTruncation_IsUndone()
    {
        GuestLines(bytes: Limit.RotateAt - 1);
        var before = _written.ToString();
        var cut = 1200L;

        // Stopped after copying part of the kept output: console.log still holds everything.
        File.WriteAllText(_paths.RotatedConsoleLog + ".new", before[(int)cut..(int)(cut + 500)]);
        new ConsoleLogState(0, RotatingFrom: cut).Write(_paths.ConsoleLogState);

        Assert.False(_log.TryKeepWithinLimit(() => true));

        Assert.False(File.Exists(_paths.RotatedConsoleLog + ".new"));
        Assert.False(File.Exists(_paths.RotatedConsoleLog));
        Assert.Equal(new ConsoleLogState(0, null), ConsoleLogState.Read(_paths.ConsoleLogState));
        Assert.Equal(before, (await ReadAllAsync(0)).Text);
    }

    [Fact]
    public async Task Recover_ARotationStoppedAfterTheTruncation_IsFinished()
    {
        GuestLines(bytes: Limit.RotateAt);
        var before = _written.ToString();
        var cut = 1200L;

        // Stopped after truncating, before the rename: the copy is the kept output; the guest wrote on since.
        File.WriteAllText(_paths.RotatedConsoleLog + ".new", before[(int)cut..]);
        new ConsoleLogState(0, RotatingFrom: cut).Write(_paths.ConsoleLogState);
        File.WriteAllText(_paths.ConsoleLog, "");
        Guest("written after the truncation\n");

        Assert.False(_log.TryKeepWithinLimit(() => true));

        Assert.Equal(new ConsoleLogState(before.Length, null), ConsoleLogState.Read(_paths.ConsoleLogState));
        var all = await ReadAllAsync(0);
        Assert.Equal(cut, all.First);
        Assert.Equal(_written.ToString()[(int)cut..], all.Text);
    }

    [Fact]
    public async Task Recover_ARotationStoppedAfterTheRename_IsFinished()
    {
        GuestLines(bytes: Limit.RotateAt);
        var before = _written.ToString();
        var cut = 1200L;

        File.WriteAllText(_paths.RotatedConsoleLog, before[(int)cut..]);
        new ConsoleLogState(0, RotatingFrom: cut).Write(_paths.ConsoleLogState);
        File.WriteAllText(_paths.ConsoleLog, "");
        Guest("written after the truncation\n");

        _log.TryKeepWithinLimit(() => true);

        Assert.Equal(new ConsoleLogState(before.Length, null), ConsoleLogState.Read(_paths.ConsoleLogState));
        Assert.Equal(_written.ToString()[(int)cut..], (await ReadAllAsync(0)).Text);
    }

    [Fact]
    public void Recover_ACopyStartedBeforeTheCutWasRecorded_IsDeleted()
    {
        GuestLines(bytes: 1000);
        File.WriteAllText(_paths.RotatedConsoleLog + ".new", "partial");

        _log.TryKeepWithinLimit(() => true);

        Assert.False(File.Exists(_paths.RotatedConsoleLog + ".new"));
        Assert.Equal(1000, new FileInfo(_paths.ConsoleLog).Length);
    }

    [Fact]
    public async Task State_ThatCannotBeRead_RestartsOffsetsAtZero()
    {
        Guest("text\n");
        File.WriteAllText(_paths.ConsoleLogState, "{ not json");

        var read = await _log.ReadAsync(0, Read, Instance, CancellationToken.None);

        Assert.Equal((0L, "text\n"), (read.Offset, Text(read)));
    }

    private void Guest(string text)
    {
        File.AppendAllText(_paths.ConsoleLog, text);
        _written.Append(text);
    }

    /// <summary>Appends numbered lines of varying length, <paramref name="bytes"/> in all.</summary>
    private void GuestLines(long bytes)
    {
        var text = new StringBuilder();
        while (text.Length < bytes)
        {
            text.Append(FormattableString.Invariant($"line {_lines++} ")).Append('x', _lines % 50).Append('\n');
        }

        Guest(text.ToString()[..(int)bytes]);
    }

    private long OnDisk() =>
        Directory.EnumerateFiles(_paths.Directory, "console.log*").Where(f => !f.EndsWith(".state", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);

    private async Task<(long First, string Text)> ReadAllAsync(long offset)
    {
        var text = new StringBuilder();
        long? first = null;
        while (true)
        {
            var read = await _log.ReadAsync(offset, 1000, Instance, CancellationToken.None);
            first ??= read.Offset;
            if (read.Data.Length == 0)
            {
                return (first.Value, text.ToString());
            }

            text.Append(Text(read));
            offset = read.NextOffset;
        }
    }

    private static string Text(ConsoleRead read) => Encoding.UTF8.GetString(read.Data);
}
