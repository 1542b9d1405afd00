using System.Text.Json;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Script;

/// <summary><c>./fabric up</c> as root: every host a network namespace of its own, with its own address.</summary>
[Collection(FabricScriptCollection.Name)]
public sealed class FabricUpNamespacesTests
{
    private static readonly TimeSpan DeathTimeout = TimeSpan.FromSeconds(10);

    [RootFact]
    public async Task Up_gives_each_host_a_namespace_and_address_its_qemus_share_and_down_removes_them_all()
    {
        await using var fabric = FabricScript.Create();
        var up = await fabric.RunAsync("up", "--hosts", "2");
        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Equal(["host-a", "host-b"], up.Lines);

        var status = await fabric.StatusAsync();
        Assert.Equal("namespaces", status.GetProperty("mode").GetString());
        Assert.Equal($"127.0.0.1:{fabric.RedisPort}", status.GetProperty("redis").GetProperty("address").GetString());
        Assert.True(status.GetProperty("redis").GetProperty("running").GetBoolean());

        // Secrets in files only their owner reads, in directories only their owner enters; status names files, never contents.
        var password = (await File.ReadAllTextAsync(Path.Combine(fabric.Home, "redis.password"))).Trim();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(fabric.Home, "redis.password")));
        Assert.All(["pki", "redis", "logs", "run"], d => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(fabric.Home, d))));
        var admin = (await File.ReadAllTextAsync(Path.Combine(fabric.Home, "admin.token"))).Trim();
        var text = await fabric.RunAsync("status");
        Assert.True(text.ExitCode == 0, text.ToString());
        var commandLines = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit))
            .Select(n => string.Join(' ', Processes.Arguments(int.Parse(n!, System.Globalization.CultureInfo.InvariantCulture))));
        foreach (var shown in new[] { status.GetRawText(), text.Output, string.Join('\n', commandLines) })
        {
            Assert.DoesNotContain(password, shown, StringComparison.Ordinal);
            Assert.DoesNotContain(admin, shown, StringComparison.Ordinal);
        }
        var hosts = FabricScript.Hosts(status);
        Assert.Equal(["host-a", "host-b"], hosts.Select(h => h.HostId));
        Assert.All(hosts, h => Assert.True(h.Running, $"{h.HostId} is not running"));
        Assert.Equal([$"{fabric.Subnet}.10", $"{fabric.Subnet}.11"], hosts.Select(h => h.Address));
        Assert.Equal([$"{fabric.Prefix}-host-a", $"{fabric.Prefix}-host-b"], hosts.Select(h => h.Namespace));
        Assert.All(hosts, h => Assert.Equal(h.Namespace, NetworkNamespaces.Of(h.Pid!.Value)));

        // A VM started through ./fabric ctl (a client in the root namespace): its QEMU runs in its host's namespace.
        var create = await fabric.RunAsync("ctl", "vm", "create", "t1", "--image", "tiny", "--memory", "16Mi");
        Assert.True(create.ExitCode == 0, create.ToString());
        var start = await fabric.RunAsync("ctl", "vm", "start", "t1");
        Assert.True(start.ExitCode == 0, start.ToString());
        var get = await fabric.RunAsync("ctl", "vm", "get", "t1", "-o", "json");
        Assert.True(get.ExitCode == 0, get.ToString());
        var vm = JsonDocument.Parse(get.Output).RootElement;
        var vmHost = vm.GetProperty("host").GetString();
        var qemu = vm.GetProperty("pid").GetInt32();
        Assert.Equal(hosts.Single(h => h.HostId == vmHost).Namespace, NetworkNamespaces.Of(qemu));

        // A VM with a NIC: its host realizes the network in its namespace, with a dnsmasq there that down ends too.
        foreach (var command in new[] { new[] { "ctl", "net", "create", "n1", "--cidr", "10.99.0.0/24" }, ["ctl", "vm", "create", "t2", "--image", "tiny", "--memory", "16Mi", "--network", "n1", "--host", "host-a"], ["ctl", "vm", "start", "t2"] })
        {
            var result = await fabric.RunAsync(command);
            Assert.True(result.ExitCode == 0, result.ToString());
        }

        var dnsmasq = await WaitForDnsmasqAsync(fabric);
        Assert.Equal($"{fabric.Prefix}-host-a", NetworkNamespaces.Of(dnsmasq));
        Assert.Contains((await NamespaceLinks.ReadAsync($"{fabric.Prefix}-host-a")).Select(l => l.Kind), kind => kind == "vxlan");

        // A killed silo comes back, into its namespace, at the next up.
        var victim = hosts.Single(h => h.HostId == "host-b");
        Processes.Kill(victim.Pid!.Value);
        await WaitUntilDeadAsync(victim.Pid.Value);
        var again = await fabric.RunAsync("up");
        Assert.True(again.ExitCode == 0, again.ToString());
        var restarted = FabricScript.Hosts(await fabric.StatusAsync()).Single(h => h.HostId == "host-b");
        Assert.True(restarted.Running);
        Assert.NotEqual(victim.Pid, restarted.Pid);
        Assert.Equal(victim.Namespace, NetworkNamespaces.Of(restarted.Pid!.Value));

        var down = await fabric.RunAsync("down");
        Assert.True(down.ExitCode == 0, down.ToString());
        Assert.Empty(fabric.LiveProcesses());
        Assert.False(Processes.IsAlive(qemu));
        Assert.False(Processes.IsAlive(dnsmasq), $"dnsmasq pid {dnsmasq} outlived down");
        Assert.Empty(fabric.NetworkLeftovers());
    }

    /// <summary>The pid of the dnsmasq a host of this fabric runs (its files are under the fabric's data directory).</summary>
    private static async Task<int> WaitForDnsmasqAsync(FabricScript fabric)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(directory), out var pid) && Processes.Arguments(pid) is [var program, ..] arguments
                    && program.EndsWith("dnsmasq", StringComparison.Ordinal) && arguments.Any(a => a.Contains(fabric.Home, StringComparison.Ordinal)))
                {
                    return pid;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, "no dnsmasq runs for the network of the fabric's VM");
            await Task.Delay(200);
        }
    }

    private static async Task WaitUntilDeadAsync(int pid)
    {
        var deadline = DateTime.UtcNow + DeathTimeout;
        while (Processes.IsAlive(pid))
        {
            Assert.True(DateTime.UtcNow < deadline, $"pid {pid} still alive {DeathTimeout.TotalSeconds:0} s after SIGKILL");
            Processes.TryReap(pid);
            await Task.Delay(20);
        }
    }
}
