using System.Globalization;
using System.Text.RegularExpressions;
using Fabric.Contracts;
using Fabric.EndToEndTests.Cluster;
using Fabric.EndToEndTests.Driver;
using Fabric.EndToEndTests.Migration;
using Fabric.EndToEndTests.Script;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Networks;

/// <summary>
/// Virtual networks through real silos, each in its host's namespace, with real <c>linux</c> guests: guests on one
/// network reach each other across hosts over VXLAN and get their allocated address by DHCP; a guest on another network
/// (same prefix) reaches none of them, nor Redis, nor its host's silo; NICs are hot-plugged and unplugged; a ping runs
/// through a live migration and a silo restart, its losses counted; deleting removes every device and dnsmasq. Each test
/// ends with the invariant check (NICs = networks = devices).
/// </summary>
[Collection(MigrationCollection.Name)]
public sealed class NetworkThroughFabricTests(MigrationFabric fabric, ITestOutputHelper output)
{
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    [RootFact]
    public async Task Guests_on_a_network_reach_each_other_across_hosts_and_nothing_else()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        await client.CreateNetworkAsync(new NetworkSpec { Name = "blue", Cidr = "10.30.0.0/24" });
        await client.CreateNetworkAsync(new NetworkSpec { Name = "red", Cidr = "10.30.0.0/24" });
        var a = await StartGuestAsync("blue-a", "host-a", "blue");
        var b = await StartGuestAsync("blue-b", "host-b", "blue");
        var red = await StartGuestAsync("red-a", "host-a", "red:10.30.0.50");
        Assert.Equal(a.Ip, (await client.GetVmAsync("blue-a")).Nics.Single().Ip);

        // Across hosts over the overlay, both ways.
        await a.Shell.MustAsync($"ping -c 3 -W 2 {b.Ip}");
        await b.Shell.MustAsync($"ping -c 3 -W 2 {a.Ip}");

        // The same prefix on another network is another world, even on the same host.
        Assert.NotEqual(0, await red.Shell.RunAsync($"ping -c 2 -W 1 {b.Ip}", TimeSpan.FromSeconds(20)));
        Assert.NotEqual(0, await red.Shell.RunAsync($"ping -c 2 -W 1 {a.Ip}", TimeSpan.FromSeconds(20)));

        // Nothing outside the network: not Redis (root namespace), not the host's silo, not another host's address.
        var environment = fabric.Environment;
        var hostA = environment.Silos["host-a"];
        var hostB = environment.Silos["host-b"];
        foreach (var (address, port, what) in new[]
        {
            (environment.Underlay!.BridgeAddress, environment.Redis.Port, "Redis"),
            (hostA.Address, hostA.SiloPort, "host-a's silo"),
            (hostA.Address, hostA.GatewayPort, "host-a's gateway"),
            (hostB.Address, hostB.SiloPort, "host-b's silo"),
            ("10.30.0.1", hostA.SiloPort, "the gateway address"),
        })
        {
            Assert.True(
                await red.Shell.RunAsync($"echo x | nc -w 2 {address} {port}", TimeSpan.FromSeconds(20)) != 0,
                $"a guest reached {what} at {address}:{port}");
        }

        // The underlay itself cannot be pinged from a guest either.
        Assert.NotEqual(0, await a.Shell.RunAsync($"ping -c 1 -W 1 {hostB.Address}", TimeSpan.FromSeconds(20)));

        var realized = (await client.GetHostAsync("host-a")).Networks;
        Assert.Equal(["blue", "red"], realized.Select(n => n.Network).Order(StringComparer.Ordinal));
        Assert.Contains(hostB.Address, realized.Single(n => n.Network == "blue").Peers);
        Assert.Empty(realized.Single(n => n.Network == "red").Peers);

        await DeleteAsync(["blue-a", "blue-b", "red-a"], ["blue", "red"]);
    }

    [RootFact]
    public async Task A_nic_is_hot_plugged_into_a_running_guest_and_unplugged_again()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        await client.CreateNetworkAsync(new NetworkSpec { Name = "plug", Cidr = "10.32.0.0/24" });
        await client.CreateNetworkAsync(new NetworkSpec { Name = "extra", Cidr = "10.33.0.0/24" });
        var host = await StartGuestAsync("plug-a", "host-a", "plug");
        var peer = await StartGuestAsync("plug-b", "host-b", "extra");

        var attached = await client.AttachNicAsync("plug-a", new NicRequest { Network = "extra" });
        var nic = attached.Nics.Single(n => n.Network == "extra");
        Assert.Equal(1, nic.Slot);
        var line = await host.Console.WaitForAsync(NetLine("eth1"), timeout: Lease);
        Assert.Equal((nic.Mac, nic.Ip), (line.Groups["mac"].Value, line.Groups["ip"].Value));
        await host.Shell.MustAsync($"ping -c 3 -W 2 {peer.Ip}");

        var detached = await client.DetachNicAsync("plug-a", new NicRequest { Network = "extra" });
        Assert.Equal(["plug"], detached.Nics.Select(n => n.Network));
        await host.Console.WaitForAsync(new Regex(@"fabric-net eth1 gone"), timeout: TimeSpan.FromSeconds(30));
        Assert.Equal(1, (await client.GetNetworkAsync("extra")).Nics);

        await DeleteAsync(["plug-a", "plug-b"], ["plug", "extra"]);
    }

    [RootFact]
    public async Task A_ping_runs_through_a_live_migration_and_a_silo_restart_losing_at_most_a_few_packets()
    {
        await fabric.EnsureAllSilosAsync();
        var client = fabric.Client;
        await client.CreateNetworkAsync(new NetworkSpec { Name = "move", Cidr = "10.34.0.0/24" });
        var pinger = await StartGuestAsync("move-a", "host-a", "move");
        var mover = await StartGuestAsync("move-b", "host-b", "move");
        await pinger.Shell.MustAsync($"ping -c 2 -W 2 {mover.Ip}");

        // 0.1 s apart while the guest moves from host-b to host-c.
        const int Sent = 200;
        await pinger.Shell.MustAsync($"(ping -c {Sent} -i 0.1 -W 1 {mover.Ip} > /tmp/ping-move 2>&1 &)");
        await client.MigrateVmAsync("move-b", new MigrationRequest { TargetHost = "host-c" });
        var moved = await client.WaitForMigrationAsync("move-b");
        Assert.Equal(MigrationPhase.Succeeded, moved.Phase);
        Assert.Equal("host-c", (await client.GetVmAsync("move-b")).Host);
        var lost = await LostAsync(pinger.Shell, "/tmp/ping-move", Sent);
        output.WriteLine($"ping through a live migration: {lost} of {Sent} lost (guest pause {moved.GuestPauseMs} ms)");
        Assert.True(lost <= 10, $"{lost} of {Sent} packets were lost through the migration");
        var after = await client.GetVmAsync("move-b");
        Assert.Equal(mover.Ip, after.Nics.Single().Ip);
        Assert.Equal(mover.Mac, after.Nics.Single().Mac);

        // The pinger's host silo dies and comes back: its guest keeps its tap, and the traffic keeps flowing.
        await pinger.Shell.MustAsync($"(ping -c {Sent} -i 0.1 -W 1 {mover.Ip} > /tmp/ping-restart 2>&1 &)");
        await fabric.Environment.KillSiloAsync("host-a");
        await fabric.EnsureSiloAsync("host-a");
        lost = await LostAsync(pinger.Shell, "/tmp/ping-restart", Sent);
        output.WriteLine($"ping through a silo restart: {lost} of {Sent} lost");
        Assert.True(lost <= 2, $"{lost} of {Sent} packets were lost through a silo restart");
        await pinger.Shell.MustAsync($"ping -c 2 -W 2 {mover.Ip}");

        await DeleteAsync(["move-a", "move-b"], ["move"]);
    }

    private static Regex NetLine(string device) => new($@"fabric-net {device} mac=(?<mac>[0-9a-f:]{{17}}) ip=(?<ip>[0-9.]+)/(?<prefix>\d+)");

    /// <summary>Creates and starts a linux guest with one NIC (<c>NET</c> or <c>NET:IP</c>), waits for its DHCP address, and returns a shell on it.</summary>
    private async Task<Guest> StartGuestAsync(string name, string host, string network)
    {
        var client = fabric.Client;
        var spec = new VmSpec
        {
            Name = name,
            Image = "linux",
            MemoryMiB = 256,
            Placement = new VmPlacement { Host = host },
            Nics = [NicRequest.Parse("network", network)],
        };
        VmInfo created;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                created = await client.CreateVmAsync(spec);
                break;
            }
            catch (FabricException ex) when (ex.Message.Contains($"{host}: Down", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                // Seen once right after the fabric started: hosts listed Ready while the scheduler's silo still saw them
                // Down (membership metadata not yet resolved there). The create gave everything back; try again.
                await Task.Delay(500);
            }
        }

        var nic = Assert.Single(created.Nics);
        Assert.Equal(spec.Nics[0].Network, nic.Network);
        await client.StartVmAsync(name);
        var console = new VmConsole(client, name);
        await console.WaitForReadyAsync(Boot);
        var line = await console.WaitForAsync(NetLine("eth0"), timeout: Lease);
        Assert.Equal((nic.Mac, nic.Ip), (line.Groups["mac"].Value, line.Groups["ip"].Value));
        return new Guest(FabricConsoleLink.Shell(client, name), console, nic.Ip, nic.Mac);
    }

    /// <summary>Waits for a background ping's summary and returns how many packets it lost.</summary>
    private static async Task<int> LostAsync(GuestShell shell, string file, int sent)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(sent / 10.0 + 60);
        while (DateTime.UtcNow < deadline)
        {
            var summary = await shell.ValueAsync($"$(grep 'packets received' {file})");
            var match = Regex.Match(summary, @"(?<tx>\d+) packets transmitted, (?<rx>\d+) packets received");
            if (match.Success)
            {
                Assert.Equal(sent, int.Parse(match.Groups["tx"].Value, CultureInfo.InvariantCulture));
                return sent - int.Parse(match.Groups["rx"].Value, CultureInfo.InvariantCulture);
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        Assert.Fail($"no ping summary in {file}");
        return -1;
    }

    /// <summary>Deletes the VMs and networks; every host then removes their devices and dnsmasq, and the invariants hold.</summary>
    private async Task DeleteAsync(string[] vms, string[] networks)
    {
        var client = fabric.Client;
        foreach (var vm in vms)
        {
            await client.DeleteVmAsync(vm, new DeleteOptions { Force = true });
        }

        foreach (var network in networks)
        {
            await client.DeleteNetworkAsync(network);
        }

        await fabric.Scenario.AssertInvariantsAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (true)
        {
            var left = new List<string>();
            foreach (var silo in fabric.Environment.Silos.Values.Where(s => s.Namespace is not null))
            {
                var links = await NamespaceLinks.ReadAsync(silo.Namespace!);
                left.AddRange(links.Where(l => l.Name.StartsWith("fb", StringComparison.Ordinal) || l.Name.StartsWith("fx", StringComparison.Ordinal) || l.Name.StartsWith("ft", StringComparison.Ordinal))
                    .Select(l => $"{silo.HostId}: {l.Name}"));
            }

            left.AddRange(DnsmasqProcesses().Select(pid => $"dnsmasq pid {pid}"));
            if (left.Count == 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "left behind after deleting the networks: " + string.Join(", ", left));
            await Task.Delay(500);
        }
    }

    /// <summary>dnsmasq processes whose files are in this environment's directory.</summary>
    private IEnumerable<int> DnsmasqProcesses()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (commandLine.Contains("dnsmasq", StringComparison.Ordinal) && commandLine.Contains(fabric.Environment.Directory, StringComparison.Ordinal))
            {
                yield return pid;
            }
        }
    }

    private sealed record Guest(GuestShell Shell, VmConsole Console, string Ip, string Mac);
}
