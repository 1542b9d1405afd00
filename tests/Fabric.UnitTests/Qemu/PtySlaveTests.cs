using System.Runtime.InteropServices;
using System.Text;
using Fabric.Hypervisor.Linux;
using Microsoft.Win32.SafeHandles;

namespace Fabric.UnitTests.Qemu;

/// <summary>
/// The console terminal's slave side (<see cref="PtySlave"/>), on a real pseudo-terminal this test makes as QEMU's
/// <c>-chardev pty</c> does: paths other than a /dev/pts terminal and terminals of another uid are refused; bytes pass
/// both ways; a quiet terminal times out; a closed master reads as hung up.
/// </summary>
public sealed class PtySlaveTests
{
    private const nuint TIOCGPTN = 0x80045430;
    private const nuint TIOCSPTLCK = 0x40045431;

    [Theory]
    [InlineData("/etc/shadow")]
    [InlineData("/dev/pts/../../etc/shadow")]
    [InlineData("/dev/pts/0/x")]
    [InlineData("/dev/pts/ptmx")]
    [InlineData("/tmp/pts/1")]
    [InlineData("")]
    public void Open_RefusesAnythingButATerminalUnderDevPts(string path)
    {
        var refused = Assert.Throws<IOException>(() => PtySlave.Open(path, owner: 0));
        Assert.Contains("not a pseudo-terminal under /dev/pts", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_RefusesATerminalOfAnotherUid()
    {
        using var master = OpenMaster(out var path);
        var refused = Assert.Throws<IOException>(() => PtySlave.Open(path, OwnerOf(path) + 1));
        Assert.Contains($"is not a terminal of uid {OwnerOf(path) + 1}", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BytesPassBothWays_AQuietTerminalTimesOut_AndAClosedMasterReadsAsHungUp()
    {
        var master = OpenMaster(out var path);
        using var slave = PtySlave.Open(path, OwnerOf(path));
        using var masterStream = new FileStream(master, FileAccess.ReadWrite, bufferSize: 0);

        slave.Write("typed\n"u8, TimeSpan.FromSeconds(5));
        var typed = new byte[64];
        Assert.Equal("typed\n", Encoding.ASCII.GetString(typed, 0, masterStream.Read(typed)));

        var buffer = new byte[64];
        Assert.Equal(0, slave.Read(buffer, timeoutMs: 50));
        masterStream.Write("printed\n"u8);
        Assert.Equal("printed\n", Encoding.ASCII.GetString(buffer, 0, slave.Read(buffer, timeoutMs: 5000)));

        masterStream.Dispose();
        Assert.Equal(-1, slave.Read(buffer, timeoutMs: 5000));
    }

    /// <summary>A new pseudo-terminal's master, unlocked and raw, and its slave's path.</summary>
    private static SafeFileHandle OpenMaster(out string path)
    {
        var fd = Native.open("/dev/ptmx", Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        Assert.True(fd >= 0, $"open /dev/ptmx: errno {Marshal.GetLastPInvokeError()}");
        var master = new SafeFileHandle(fd, ownsHandle: true);
        var number = Marshal.AllocHGlobal(sizeof(int));
        try
        {
            Marshal.WriteInt32(number, 0);
            Assert.Equal(0, Native.ioctl(master, TIOCSPTLCK, number));
            Assert.Equal(0, Native.ioctl(master, TIOCGPTN, number));
            path = $"/dev/pts/{Marshal.ReadInt32(number)}";
        }
        finally
        {
            Marshal.FreeHGlobal(number);
        }

        // Raw, as QEMU leaves its terminal: no echo of what the master writes, no newline translation.
        var stty = System.Diagnostics.Process.Start("stty", ["-F", path, "raw", "-echo"])!;
        stty.WaitForExit();
        Assert.Equal(0, stty.ExitCode);
        return master;
    }

    private static int OwnerOf(string path)
    {
        Assert.Equal(0, Native.statx(Native.AT_FDCWD, path, 0, Native.STATX_BASIC_STATS, out var facts));
        return (int)facts.Uid;
    }
}
