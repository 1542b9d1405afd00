using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Script;

/// <summary>./fabric never trusts a pid file it has not checked, and never adopts a Redis that is not its own.</summary>
[Collection(FabricScriptCollection.Name)]
public sealed class FabricHygieneTests
{
    [Fact]
    public async Task Stale_pid_files_neither_keep_up_from_starting_nor_make_down_kill_the_process_they_name()
    {
        using var unrelated = Process.Start("sleep", "300");
        try
        {
            await using var fabric = FabricScript.Create();
            Directory.CreateDirectory(Path.GetDirectoryName(fabric.PidFile("redis"))!);
            var stale = unrelated.Id.ToString(CultureInfo.InvariantCulture);
            await File.WriteAllTextAsync(fabric.PidFile("redis"), stale + "\n");
            await File.WriteAllTextAsync(fabric.PidFile("host-a"), stale + "\n");

            // --loopback: pid checks are the same in both modes, and so this runs without root too.
            var up = await fabric.RunAsync("up", "--loopback", "--hosts", "1");
            Assert.True(up.ExitCode == 0, up.ToString());

            var status = await fabric.StatusAsync();
            var redis = status.GetProperty("redis");
            Assert.True(redis.GetProperty("running").GetBoolean());
            Assert.NotEqual(unrelated.Id, redis.GetProperty("pid").GetInt32());
            var host = Assert.Single(FabricScript.Hosts(status));
            Assert.True(host.Running);
            Assert.NotEqual(unrelated.Id, host.Pid);
            Assert.Equal(host.Pid!.Value.ToString(CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(fabric.PidFile("host-a"))).Trim());
            Assert.Equal(redis.GetProperty("pid").GetInt32().ToString(CultureInfo.InvariantCulture), (await File.ReadAllTextAsync(fabric.PidFile("redis"))).Trim());

            // The stale pid again, in both files: down must stop the real processes and leave this one alone.
            await File.WriteAllTextAsync(fabric.PidFile("redis"), stale + "\n");
            await File.WriteAllTextAsync(fabric.PidFile("host-a"), stale + "\n");
            var down = await fabric.RunAsync("down");
            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.Empty(fabric.LiveProcesses());
            Assert.False(unrelated.HasExited, "down killed the process a stale pid file named");
        }
        finally
        {
            unrelated.Kill();
            await unrelated.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Up_refuses_a_foreign_redis_on_its_port_and_starts_nothing()
    {
        var foreignDirectory = TestDirectories.Create();
        try
        {
            // Someone else's Redis, plaintext and without a password: the script asks it for its directory.
            var port = Ports.Free();
            await using var foreign = ChildProcess.Start("redis-server", ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", foreignDirectory, "--save", ""], new Dictionary<string, string>(), Path.Combine(foreignDirectory, "redis.log"));
            await foreign.WaitForOutputAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
            await using var fabric = FabricScript.Create(redisPort: port);

            // Namespaces mode as root, loopback otherwise: the check comes before either.
            var up = await fabric.RunAsync("up", "--hosts", "2");
            Assert.NotEqual(0, up.ExitCode);
            Assert.Contains($"error: conflict: port {port} answers but is not this fabric's Redis", up.Error, StringComparison.Ordinal);
            Assert.Contains(foreignDirectory, up.Error, StringComparison.Ordinal);
            Assert.Empty(fabric.LiveProcesses());
            if (Underlay.UnavailableReason is null)
            {
                Assert.Empty(fabric.NetworkLeftovers());
            }

            // Nor does down touch it.
            var down = await fabric.RunAsync("down");
            Assert.True(down.ExitCode == 0, down.ToString());
            using var probe = new TcpClient();
            await probe.ConnectAsync("127.0.0.1", port);
        }
        finally
        {
            Directory.Delete(foreignDirectory, recursive: true);
        }
    }
}
