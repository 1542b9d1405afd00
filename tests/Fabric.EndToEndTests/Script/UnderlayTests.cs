using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Script;

/// <summary>deploy/local/underlay.sh through the test support: who reaches whom, and what a namespaced environment runs where.</summary>
[Collection(FabricScriptCollection.Name)]
public sealed class UnderlayTests
{
    [RootFact]
    public async Task Hosts_reach_the_bridge_address_and_each_other_and_the_root_namespace_reaches_them()
    {
        var owner = TestDirectories.Create();
        var underlay = await Underlay.CreateAsync(owner);
        try
        {
            var (namespaceA, addressA) = await underlay.AddHostAsync("host-a");
            var (namespaceB, addressB) = await underlay.AddHostAsync("host-b");
            Assert.NotEqual(namespaceA, namespaceB);
            Assert.Equal([$"{underlay.Subnet}.10", $"{underlay.Subnet}.11"], [addressA, addressB]);
            Assert.Equal((namespaceA, addressA), await underlay.AddHostAsync("host-a"));

            // host-a reaches a server in the root namespace bound to the bridge address (as silos reach Redis) ...
            using var bridgeServer = new TcpListener(IPAddress.Parse(underlay.BridgeAddress), 0);
            bridgeServer.Start();
            var accepted = bridgeServer.AcceptTcpClientAsync();
            Assert.Equal(0, await ConnectFromAsync(underlay, "host-a", underlay.BridgeAddress, Port(bridgeServer)));
            using var _ = await accepted;

            // ... but not the root namespace's loopback: 127.0.0.1 in a namespace is its own.
            using var loopbackServer = new TcpListener(IPAddress.Loopback, 0);
            loopbackServer.Start();
            Assert.NotEqual(0, await ConnectFromAsync(underlay, "host-a", "127.0.0.1", Port(loopbackServer)));

            // host-a reaches a server in host-b, and so does the root namespace.
            const int port = 7379;
            var (program, arguments) = underlay.Exec("host-b", "redis-server", ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", addressB, "--protected-mode", "no", "--save", "", "--dir", owner]);
            await using var server = ChildProcess.Start(program, arguments, new Dictionary<string, string>(), Path.Combine(owner, "redis.log"));
            await server.WaitForOutputAsync("Ready to accept connections", TimeSpan.FromSeconds(20));
            Assert.Equal(namespaceB, NetworkNamespaces.Of(server.Pid));
            Assert.Equal(0, await ConnectFromAsync(underlay, "host-a", addressB, port));
            using var fromRoot = new TcpClient();
            await fromRoot.ConnectAsync(addressB, port);
        }
        finally
        {
            await underlay.DisposeAsync();
            Directory.Delete(owner, recursive: true);
        }

        Assert.DoesNotContain(NetworkNamespaces.Names(), n => n.StartsWith(underlay.Prefix + "-", StringComparison.Ordinal));
        Assert.False(Directory.Exists($"/sys/class/net/{underlay.Prefix}-br"));
    }

    [RootFact]
    public async Task A_namespaced_environment_runs_each_silo_and_its_qemus_in_the_hosts_namespace_and_removes_it_on_dispose()
    {
        var environment = await FabricEnvironment.StartAsync(NetworkTopology.Namespaces, "host-a", "host-b");
        var prefix = environment.Underlay!.Prefix;
        int qemu;
        try
        {
            Assert.Equal(NetworkTopology.Namespaces, environment.Topology);
            var silos = environment.Silos.Values.OrderBy(s => s.HostId, StringComparer.Ordinal).ToList();
            Assert.Equal([$"{prefix}-host-a", $"{prefix}-host-b"], silos.Select(s => s.Namespace));
            Assert.Equal(2, silos.Select(s => s.Address).Distinct().Count());
            Assert.All(silos, s => Assert.Equal(s.Namespace, NetworkNamespaces.Of(s.Process.Pid)));

            // A silo serves before the scheduler has its host's first report: wait for both, as a placement would.
            var client = await environment.ConnectAsync();
            foreach (var host in new[] { "host-a", "host-b" })
            {
                await FabricEnvironment.WaitForHostStateAsync(client, host, Contracts.HostState.Ready, TimeSpan.FromSeconds(30));
            }

            Assert.Equal(["host-a", "host-b"], (await client.ListHostsAsync()).Select(h => h.Name).Order());
            await client.CreateVmAsync(new Contracts.VmSpec { Name = "netns-tiny", Image = "tiny", MemoryMiB = 16 });
            var vm = await client.StartVmAsync("netns-tiny");
            qemu = vm.Pid!.Value;
            Assert.Equal(environment.Silos[vm.Host].Namespace, NetworkNamespaces.Of(qemu));
        }
        finally
        {
            await environment.DisposeAsync();
        }

        Assert.False(Processes.IsAlive(qemu));
        Assert.DoesNotContain(NetworkNamespaces.Names(), n => n.StartsWith(prefix + "-", StringComparison.Ordinal));
        Assert.False(Directory.Exists($"/sys/class/net/{prefix}-br"));
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>Opens a TCP connection from inside <paramref name="hostId"/>'s namespace; the exit code says whether it connected.</summary>
    private static async Task<int> ConnectFromAsync(Underlay underlay, string hostId, string address, int port)
    {
        var (program, arguments) = underlay.Exec(hostId, "timeout", ["5", "bash", "-c", "exec 3<>\"/dev/tcp/$0/$1\"", address, port.ToString(CultureInfo.InvariantCulture)]);
        var startInfo = new ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
