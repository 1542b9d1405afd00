using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// A guest that prints a lot: its console log stays within the driver's limit while QEMU writes it, readers follow it
/// by offset across rotations, and a relaunch starts a new log.
/// </summary>
/// <remarks>
/// <para>
/// The limit is 128 KiB rather than a realistic 16 MiB because the linux guest's serial console prints only 15–65 KB/s
/// under TCG here (the less, the busier the machine): 500 KB of output (~8 rotations) then takes 8–35 s.
/// </para>
/// <para>
/// Every byte the guest prints is logged exactly once: the noise is checked byte for byte and the ticks one by one.
/// (Over the console socket used before, QEMU 7.2 logged a byte twice whenever the socket refused it for a moment,
/// ~1–2 % of the noise lines on a loaded machine; the console is now a pseudo-terminal.)
/// </para>
/// </remarks>
public sealed partial class ConsoleLogRotationTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "noisy-1";
    private const long Limit = 128 * 1024;
    private const int NoiseBytes = 500_000;
    private const string NoiseLine = "fabric-noise\n";
    private static readonly TimeSpan NoiseTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SamplePeriod = TimeSpan.FromMilliseconds(5);

    /// <summary>Slack on top of the documented overshoot (output during one check interval and one rotation).</summary>
    private const long Slack = 16 * 1024;

    /// <summary>
    /// How late a check may run on a busy 2-core machine (the guest prints on meanwhile: nothing paces it to the driver).
    /// Measured: 0.8 s of output over the limit while two busy loops held both cores.
    /// </summary>
    private static readonly TimeSpan CheckDelay = TimeSpan.FromSeconds(1);

    /// <summary>How long a busy 2-core machine may keep the driver from running between two system calls.</summary>
    private static readonly TimeSpan SchedulingGap = TimeSpan.FromMilliseconds(10);

    [Fact]
    public async Task NoisyGuest_LogStaysWithinItsLimit_OffsetsCarryOnAcrossRotations_AndARelaunchStartsAfresh()
    {
        var host = await StartDriverAsync(options => options.ConsoleLogLimitBytes = Limit);
        var paths = VmPaths.For(Sandbox.DataDirectory, Vm);
        await host.LaunchAsync(QemuSandbox.Linux(Vm));
        var follower = new ConsoleFollower(host.Driver, Vm);
        var boot = (await follower.WaitForLineAsync(GuestConsole.Ready(), LinuxBoot)).Boot();

        using var sampling = new CancellationTokenSource();
        var sizes = Task.Run(() => SampleSizesAsync(paths, sampling.Token));
        var noisy = Stopwatch.StartNew();
        await SendAsync(host.Driver, $"yes {NoiseLine.TrimEnd()} | head -c {NoiseBytes}; echo noise-done-$((6*7))");
        await follower.WaitForLineAsync(NoiseDone(), NoiseTimeout);
        noisy.Stop();
        var lastTick = await follower.WaitForLineAsync(GuestConsole.Tick(), NextTick);
        await sampling.CancelAsync();
        var (current, rotated) = await sizes;

        // Measurements first, so a failure still reports them.
        var rate = (follower.Offset - follower.First) / noisy.Elapsed.TotalSeconds;
        var rotations = Sandbox.Logger.Entries.Where(e => e.Contains("console log rotated", StringComparison.Ordinal)).ToList();
        var lost = LostNoiseBytes(follower.Text);
        var overshoot = current + rotated - Limit;
        Output.WriteLine($"noise: {follower.Offset} console bytes in {noisy.Elapsed.TotalSeconds:0.0} s ({rate / 1000:0.0} KB/s); {rotations.Count} rotations; " +
            $"largest console.log {current} B (rotates at {Limit / 2}), largest console.log.1 {rotated} B (keeps {Limit / 2}); " +
            $"on disk at most {current + rotated} B for a limit of {Limit} (overshoot {overshoot} B); noise bytes lost to rotation: {lost}");

        Assert.True(rotations.Count >= 4, $"only {rotations.Count} rotations");
        var allowed = Limit + Slack + (long)(rate * (ConsoleLog.MinCheckInterval + CheckDelay).TotalSeconds);
        Assert.True(current + rotated <= allowed, $"the console files held up to {current + rotated} bytes; allowed {allowed}");
        // Lost: what the guest printed between the copy's last read and the truncation, one system call apart — but a
        // loaded machine may preempt the driver between the two for a few milliseconds (docs/hypervisor.md).
        Assert.InRange(lost, 0, (long)(rotations.Count * (16 + (rate * SchedulingGap.TotalSeconds))));

        // Logical offsets kept counting past everything rotated away (the follower checked each read started where the
        // last ended), and every tick arrived once, in order, across every rotation.
        Assert.True(follower.Offset > NoiseBytes, $"offset {follower.Offset} after {NoiseBytes} bytes of noise");
        var ticks = AssertTicksInOrder(follower.Lines, boot);
        Assert.True(ticks >= 10, $"only {ticks} ticks");

        // A new reader from offset 0 hears that output was rotated away (a larger offset), and starts at a line.
        var latecomer = new ConsoleFollower(host.Driver, Vm, await OldestOffsetAsync(host.Driver));
        Assert.True(latecomer.First > Limit, $"the oldest kept byte is at offset {latecomer.First}");
        Assert.Equal(lastTick.Value, (await latecomer.WaitForLineAsync(new Regex(Regex.Escape(lastTick.Value) + "$"), NextTick)).Value);
        Assert.Equal('\n', follower.Text[(int)latecomer.First - 1]); // The first follower read from 0: its text is the log.

        // A new process starts a new log at offset 0: no rotated file, no state, and an old follower hears of it.
        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        Assert.False(File.Exists(paths.RotatedConsoleLog), "console.log.1 outlived its process");
        Assert.False(File.Exists(paths.ConsoleLogState), "console.log.state outlived its process");
        var fresh = new ConsoleFollower(host.Driver, Vm);
        Assert.NotEqual(boot, (await fresh.WaitForLineAsync(GuestConsole.Ready(), TinyBoot)).Boot());
        Assert.DoesNotContain("fabric-noise", fresh.Text, StringComparison.Ordinal);
        var old = await host.Driver.ReadConsoleAsync(Vm, follower.Offset, 1024, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(0, old.Offset);
    }

    [Fact]
    public async Task Reattach_BringsALogThatGrewUnwatchedBackWithinItsLimit()
    {
        var first = await StartDriverAsync(options => options.ConsoleLogLimitBytes = Limit);
        var paths = VmPaths.For(Sandbox.DataDirectory, Vm);
        await first.LaunchAsync(QemuSandbox.Linux(Vm));
        var follower = new ConsoleFollower(first.Driver, Vm);
        var boot = (await follower.WaitForLineAsync(GuestConsole.Ready(), LinuxBoot)).Boot();

        // The silo stops while the guest prints: QEMU writes on, and nothing bounds the log meanwhile.
        await SendAsync(first.Driver, $"yes {NoiseLine.TrimEnd()} | head -c {NoiseBytes / 2}; echo noise-done-$((6*7))");

        // QEMU drops typed input the guest has not taken yet when the driver lets go of the console: wait for output.
        await follower.WaitForLineAsync(NoiseStarted(), NoiseTimeout);
        await first.Driver.DisposeAsync();
        var unwatched = await WaitForLengthAsync(paths.ConsoleLog, Limit + (Limit / 4), NoiseTimeout);
        Output.WriteLine($"console.log grew to {unwatched} bytes while no driver watched (limit {Limit})");

        var second = await StartDriverAsync(options => options.ConsoleLogLimitBytes = Limit);
        var found = Assert.Single(await second.Driver.AttachAllAsync(CancellationToken.None));
        Assert.Equal(ProcessPower.Running, found.Power);
        await WaitForLengthBelowAsync(paths.ConsoleLog, Limit / 2, TimeSpan.FromSeconds(10));
        Assert.InRange(SizeOf(paths.ConsoleLog) + SizeOf(paths.RotatedConsoleLog), 0, Limit + Slack);

        // The old follower's offset was rotated away: its next read says so by starting later, and it reads on.
        var read = await second.Driver.ReadConsoleAsync(Vm, follower.Offset, 1024, TimeSpan.Zero, CancellationToken.None);
        Assert.True(read.Offset > follower.Offset, $"read from {follower.Offset} started at {read.Offset}");
        var resumed = new ConsoleFollower(second.Driver, Vm, read.Offset);
        await resumed.WaitForLineAsync(NoiseDone(), NoiseTimeout);
        Assert.Equal(boot, (await resumed.WaitForLineAsync(GuestConsole.Tick(), NextTick)).Boot());
    }

    /// <summary>The shell's output line (the echo of the typed command still reads <c>$((6*7))</c>).</summary>
    // Not anchored: the guest's ticker writes to the same console and may land on the marker's line.
    [GeneratedRegex("noise-done-42")]
    private static partial Regex NoiseDone();

    [GeneratedRegex("^fabric-noise$")]
    private static partial Regex NoiseStarted();

    /// <summary>A tick line, wherever it starts (the ticker may write between two writes of the noise).</summary>
    [GeneratedRegex(@"tick \d+ boot=[0-9a-f]+\n")]
    private static partial Regex TickLine();

    private static Task SendAsync(QemuDriver driver, string line) =>
        driver.SendConsoleAsync(Vm, Encoding.ASCII.GetBytes(line + "\n"), CancellationToken.None);

    /// <summary>
    /// How many bytes of the noise never reached a reader: the noise the guest printed, without the tick lines that
    /// interleave with it, against what <c>yes | head -c</c> printed. Rotation loses what QEMU writes between its copy's
    /// last read and its truncation; a byte logged twice would make this negative.
    /// </summary>
    private static long LostNoiseBytes(string console)
    {
        var text = console.Replace("\r", "", StringComparison.Ordinal);
        // The typed line is echoed twice (by the terminal as it arrives, by the shell as it reads it): the noise follows the last.
        const string command = "$((6*7))\n";
        var end = text.IndexOf("noise-done-42\n", StringComparison.Ordinal);
        var start = text.LastIndexOf(command, end, StringComparison.Ordinal) + command.Length;
        var noise = TickLine().Replace(text[start..end], "");
        var expected = string.Concat(Enumerable.Repeat(NoiseLine, NoiseBytes / NoiseLine.Length)) + NoiseLine[..(NoiseBytes % NoiseLine.Length)];
        return expected.Length - noise.Length;
    }

    /// <summary>Asserts that the ticks come in order, once each, from one boot, and returns the last count.</summary>
    private static int AssertTicksInOrder(IReadOnlyList<string> lines, string boot)
    {
        var next = 1;
        foreach (var tick in lines.Select(line => GuestConsole.Tick().Match(line)).Where(match => match.Success))
        {
            Assert.Equal(boot, tick.Boot());
            Assert.True(tick.Groups["n"].Value == next.ToString(CultureInfo.InvariantCulture), $"'{tick.Value}' is not tick {next}: a tick came again, out of order, garbled, or went missing");
            next++;
        }

        return next - 1;
    }

    private static async Task<long> OldestOffsetAsync(QemuDriver driver) =>
        (await driver.ReadConsoleAsync(Vm, 0, 1, TimeSpan.Zero, CancellationToken.None)).Offset;

    /// <summary>The largest console.log and the largest console.log.1 (or its copy in progress) seen until cancelled.</summary>
    private static async Task<(long Current, long Rotated)> SampleSizesAsync(VmPaths paths, CancellationToken cancellationToken)
    {
        long current = 0;
        long rotated = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            // Each length is one stat, exact; their sum at one instant is at most the sum of the two maxima.
            current = Math.Max(current, SizeOf(paths.ConsoleLog));
            rotated = Math.Max(rotated, Math.Max(SizeOf(paths.RotatedConsoleLog), SizeOf(paths.RotatedConsoleLog + ".new")));
            try
            {
                await Task.Delay(SamplePeriod, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return (current, rotated);
    }

    private static long SizeOf(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? file.Length : 0;
    }

    // No driver watches the file here, so nothing can signal its growth: poll its length.
    private static async Task<long> WaitForLengthAsync(string path, long length, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (SizeOf(path) < length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} stayed below {length} bytes for {timeout.TotalSeconds:0} s (now {SizeOf(path)})");
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        return SizeOf(path);
    }

    // The driver's first check runs in the background after attach and reports nothing but a log line.
    private static async Task WaitForLengthBelowAsync(string path, long length, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (SizeOf(path) >= length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} was not rotated within {timeout.TotalSeconds:0} s of attach (still {SizeOf(path)} bytes)");
            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }
}
