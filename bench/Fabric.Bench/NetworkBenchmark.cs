using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One path's ping round-trip times (milliseconds), and their ratios to the raw underlay's.</summary>
internal sealed record LatencyRow(
    string Path,
    string Between,
    int Sent,
    int Received,
    double MinMs,
    double AvgMs,
    double P50Ms,
    double MaxMs,
    double AvgVsUnderlay,
    double P50VsUnderlay);

/// <summary>One path's TCP bulk transfers: MiB/s per transfer, and the ratio of the p50 to the raw underlay's (same tool).</summary>
internal sealed record ThroughputRow(
    string Path,
    string Between,
    string Tool,
    int Transfers,
    double? MiBPerTransfer,
    double P50MiBps,
    double MinMiBps,
    double MaxMiBps,
    double? VsUnderlay);

/// <summary>
/// One live migration of the pinged guest: packets sent and lost by the ping running through it, the longest run of
/// consecutive losses, and the migration's own figures (milliseconds).
/// </summary>
internal sealed record LossRow(
    int Round,
    string From,
    string To,
    int Sent,
    int Lost,
    int LongestGap,
    long? GuestPauseMs,
    double? PauseOverInterval,
    long TotalMs);

/// <summary>Section 3: pings through live migrations of their target.</summary>
internal sealed record MigrationLossFigures(
    int Rounds,
    double IntervalMs,
    int PingsPerMigration,
    IReadOnlyList<LossRow> Migrations,
    double? LostP50,
    double? LostMax,
    double? PauseP50Ms,
    double? PauseMaxMs,
    double? PauseOverIntervalP50,
    IReadOnlyList<string> Failures);

/// <summary>All of <c>./fabric bench network</c>.</summary>
internal sealed record NetworkReport(
    string Topology,
    string Accelerator,
    int GuestMemoryMiB,
    string Cidr,
    int GuestMtu,
    int Pings,
    double PingIntervalMs,
    IReadOnlyList<LatencyRow> Latency,
    IReadOnlyList<ThroughputRow> Throughput,
    MigrationLossFigures Migration,
    double LoadAverageAtStart,
    double LoadAverageAtEnd,
    IReadOnlyList<string> Notes);

/// <summary>
/// Virtual networks, measured against the raw underlay in the same run, between two host silos in network namespaces of
/// their own (root only), with three real <c>linux</c> guests on one network: <c>net-a</c> and <c>net-a2</c> on host-a,
/// <c>net-b</c> on host-b.
/// <list type="number">
/// <item>ping round trips: net-a → net-b over the overlay (VXLAN between the hosts), net-a → net-a2 over host-a's
/// bridge, and host-a's namespace → host-b's underlay address (the baseline), all with busybox ping;</item>
/// <item>TCP bulk transfers (busybox <c>dd | nc</c>, timed by the sender's <c>/proc/uptime</c>) over the same three
/// paths, and iperf3 over the underlay as a reference for what the underlay itself can carry;</item>
/// <item>packets lost by a ping from net-a every 100 ms while net-b live-migrates host-b → host-a and back, beside each
/// migration's guest pause.</item>
/// </list>
/// </summary>
internal static partial class NetworkBenchmark
{
    public const int DefaultPings = 50;
    public const int DefaultRounds = 3;

    private const string NetworkName = "bench-net";
    private const string Cidr = "10.40.0.0/24";
    private const int GuestMemoryMiB = 256;
    private const int Port = 5001;
    private const int IperfPort = 5201;
    private const int BlockBytes = 64 << 10;
    private const double MiB = 1 << 20;

    private const double PingIntervalSeconds = 0.05;
    private const double LossIntervalSeconds = 0.1;

    /// <summary>Per migration: 12 s of pings, started 1.5 s before the migration (which takes 1–3 s here).</summary>
    private const int PingsPerMigration = 120;

    /// <summary>Transfers per path (after one untimed sizing transfer), the paths in turn, the first one changing each time.</summary>
    private const int Transfers = 3;

    /// <summary>The sizing transfer: 8 MiB; each measured transfer is then sized to last about <see cref="TransferSeconds"/>.</summary>
    private const int SizingBlocks = 128;

    private const double TransferSeconds = 4;
    private const int MinBlocks = 64;
    private const int MaxBlocks = 16384;

    private static readonly string[] Hosts = ["host-a", "host-b"];
    private static readonly TimeSpan LeadIn = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(180);
    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromSeconds(180);

    /// <summary>Why the benchmark cannot run here, or null: each host needs a network namespace of its own (root).</summary>
    public static string? UnavailableReason(bool loopback) =>
        loopback
            ? "virtual networks need the namespaces topology, and --loopback asks for loopback"
            : Underlay.UnavailableReason is { } reason ? $"virtual networks need the namespaces topology: {reason}" : null;

    public static async Task<NetworkReport> RunAsync(int pings, int rounds, TextWriter progress)
    {
        var loadAtStart = LoadAverage();
        await using var environment = await FabricEnvironment.StartAsync(NetworkTopology.Namespaces, FabricEnvironment.ProductionDefaults);
        await Task.WhenAll(Hosts.Select(host => environment.StartSiloAsync(host)));
        var client = await environment.ConnectAsync();
        foreach (var host in Hosts)
        {
            await FabricEnvironment.WaitForHostStateAsync(client, host, HostState.Ready, TimeSpan.FromSeconds(60));
        }

        var accelerator = (await client.GetHostAsync("host-a")).Accelerator;
        var network = await client.CreateNetworkAsync(new NetworkSpec { Name = NetworkName, Cidr = Cidr });
        var notes = new List<string>();

        progress.WriteLine($"  booting three linux guests ({GuestMemoryMiB} MiB) on network {NetworkName} ({Cidr}): net-a and net-a2 on host-a, net-b on host-b");
        Guest[] guests =
        [
            await CreateGuestAsync(client, "net-a", "host-a"),
            await CreateGuestAsync(client, "net-a2", "host-a"),
            await CreateGuestAsync(client, "net-b", "host-b"),
        ];
        foreach (var guest in guests)
        {
            await WaitForAddressAsync(client, guest);
            progress.WriteLine($"    {guest.Name} on {guest.Host}: {guest.Ip} ({guest.Mac})");
        }

        var (a, a2, b) = (guests[0], guests[1], guests[2]);
        var hostA = new HostEnd(environment.Silos["host-a"]);
        var hostB = new HostEnd(environment.Silos["host-b"]);
        var mtu = int.Parse(await a.Shell.ValueAsync("$(cat /sys/class/net/eth0/mtu)"), CultureInfo.InvariantCulture);

        // Every path once, untimed: ARP, the bridges' and the VXLAN device's forwarding entries, page cache. A host
        // learns its network's peers when it next pulls the network's realization: give that up to 30 s.
        foreach (var peer in new[] { b, a2 })
        {
            await a.Shell.MustAsync($"for i in $(seq 1 30); do ping -c 1 -W 1 {peer.Ip} >/dev/null && break; done; ping -c 3 -W 2 {peer.Ip} >/dev/null", CommandTimeout);
        }

        await hostA.PingAsync(hostB.Address, 3, 0.2);

        var latency = await LatencyAsync(a, a2, b, hostA, hostB, pings, progress);
        var throughput = await ThroughputAsync(environment, a, a2, b, hostA, hostB, progress, notes);
        var migration = await MigrationLossAsync(client, a, b, rounds, progress, notes);

        progress.WriteLine("  deleting the guests and the network");
        foreach (var guest in guests)
        {
            await client.DeleteVmAsync(guest.Name, new DeleteOptions { Force = true });
        }

        await DeleteNetworkAsync(client);
        return new NetworkReport(
            "namespaces",
            accelerator,
            GuestMemoryMiB,
            network.Cidr,
            mtu,
            pings,
            PingIntervalSeconds * 1000,
            latency,
            throughput,
            migration,
            loadAtStart,
            LoadAverage(),
            notes);
    }

    /// <summary>The machine's 1-minute load average: guests under TCG are CPU-bound, so their figures move with it.</summary>
    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    // ------------------------------------------------------------------ guests

    /// <summary>A guest with its NIC, and a shell on its console.</summary>
    private sealed record Guest(string Name, string Host, string Ip, string Mac, GuestShell Shell);

    private static async Task<Guest> CreateGuestAsync(FabricClient client, string name, string host)
    {
        var created = await client.CreateVmAsync(new VmSpec
        {
            Name = name,
            Image = "linux",
            MemoryMiB = GuestMemoryMiB,
            Placement = new VmPlacement { Host = host },
            Nics = [new NicRequest { Network = NetworkName }],
        });
        await client.StartVmAsync(name);
        var nic = created.Nics.Single();
        return new Guest(name, host, nic.Ip, nic.Mac, new GuestShell(client, name, CommandTimeout));
    }

    /// <summary>Waits for the guest's ready line, then for DHCP to have given it its allocated address.</summary>
    private static async Task WaitForAddressAsync(FabricClient client, Guest guest)
    {
        await GuestConsole.WaitForAsync(client, guest.Name, GuestConsole.Ready(), BootTimeout);
        var ip = await GuestConsole.WaitForAsync(client, guest.Name, NetLine(), LeaseTimeout);
        if (ip != guest.Ip)
        {
            throw new InvalidOperationException($"{guest.Name} got {ip} by DHCP, but the fabric allocated {guest.Ip}");
        }
    }

    [GeneratedRegex(@"fabric-net eth0 mac=[0-9a-f:]{17} ip=(?<v>[0-9.]+)/\d+")]
    private static partial Regex NetLine();

    private static async Task DeleteNetworkAsync(FabricClient client)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await client.DeleteNetworkAsync(NetworkName);
                return;
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Conflict && attempt < 20)
            {
                // The deleted VMs' NICs are still being released.
                await Task.Delay(500);
            }
        }
    }

    // ------------------------------------------------------------------ 1. latency

    private static async Task<List<LatencyRow>> LatencyAsync(Guest a, Guest a2, Guest b, HostEnd hostA, HostEnd hostB, int pings, TextWriter progress)
    {
        progress.WriteLine($"  latency: {pings} pings {PingIntervalSeconds * 1000:0} ms apart on each path (busybox ping everywhere)");
        var underlay = await hostA.PingAsync(hostB.Address, pings, PingIntervalSeconds);
        progress.WriteLine($"    underlay: {underlay.Describe()}");
        var overlay = await GuestPingAsync(a, b.Ip, pings, PingIntervalSeconds, "/tmp/ping-lat");
        progress.WriteLine($"    overlay: {overlay.Describe()}");
        var bridge = await GuestPingAsync(a, a2.Ip, pings, PingIntervalSeconds, "/tmp/ping-lat");
        progress.WriteLine($"    same-host bridge: {bridge.Describe()}");

        var baseline = underlay.Times;
        LatencyRow Row(string path, string between, PingResult result)
        {
            var times = result.Times;
            return new LatencyRow(path, between, result.Sent, result.Received, times.Min, result.Average, times.Median, times.Max, result.Average / underlay.Average, times.Median / baseline.Median);
        }

        return
        [
            Row("guest → guest, across hosts (overlay: VXLAN)", $"{a.Name} ({a.Host}) → {b.Name} ({b.Host})", overlay),
            Row("guest → guest, same host (bridge)", $"{a.Name} → {a2.Name} ({a.Host})", bridge),
            Row("raw underlay (baseline)", $"{hostA.Namespace} → {hostB.Address}", underlay),
        ];
    }

    /// <summary>One ping's outcome: packets sent and answered, and the round trip of each answer (ms).</summary>
    private sealed record PingResult(int Sent, int Received, IReadOnlyList<double> Rtts, IReadOnlyList<int> Sequences)
    {
        public Stats Times { get; } = new(Rtts);

        public double Average => Rtts.Count == 0 ? double.NaN : Rtts.Average();

        public string Describe() => $"{Received}/{Sent} answered, min {Times.Min:0.000} ms, avg {Average:0.000} ms, p50 {Times.Median:0.000} ms, max {Times.Max:0.000} ms";

        /// <summary>The most consecutive sequence numbers missing between the answered ones (or before the first, or after the last).</summary>
        public int LongestGap()
        {
            var answered = Sequences.Distinct().Order().ToList();
            if (answered.Count == 0)
            {
                return Sent;
            }

            var gap = Math.Max(answered[0], Sent - 1 - answered[^1]);
            for (var i = 1; i < answered.Count; i++)
            {
                gap = Math.Max(gap, answered[i] - answered[i - 1] - 1);
            }

            return gap;
        }

        /// <summary>From busybox ping's lines: <c>… seq=N ttl=64 time=0.512 ms</c> and <c>N packets transmitted, M packets received</c>.</summary>
        public static PingResult Parse(string summary, string rtts, string sequences)
        {
            var match = Summary().Match(summary);
            if (!match.Success)
            {
                throw new InvalidOperationException($"no ping summary in '{summary}'");
            }

            var result = new PingResult(
                int.Parse(match.Groups["tx"].Value, CultureInfo.InvariantCulture),
                int.Parse(match.Groups["rx"].Value, CultureInfo.InvariantCulture),
                [.. rtts.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(t => double.Parse(t, CultureInfo.InvariantCulture))],
                [.. sequences.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))]);
            return result.Received == 0 || result.Rtts.Count == 0 ? throw new InvalidOperationException($"no ping was answered, or no round trip could be read: {summary}") : result;
        }

        /// <summary>Parses a whole busybox ping output (the host's).</summary>
        public static PingResult ParseOutput(string output) => Parse(
            Summary().Match(output).Value,
            string.Join(' ', Rtt().Matches(output).Select(m => m.Groups["v"].Value)),
            string.Join(' ', Sequence().Matches(output).Select(m => m.Groups["v"].Value)));
    }

    [GeneratedRegex(@"(?<tx>\d+) packets transmitted, (?<rx>\d+) packets received")]
    private static partial Regex Summary();

    [GeneratedRegex(@" time=(?<v>[0-9.]+) ms")]
    private static partial Regex Rtt();

    [GeneratedRegex(@" seq=(?<v>\d+) ")]
    private static partial Regex Sequence();

    /// <summary>
    /// busybox ping in the guest, its output kept in a file (not on the console while it runs); the answers read back
    /// one line each: the summary, the round trips, the sequence numbers answered.
    /// </summary>
    private static async Task<PingResult> GuestPingAsync(Guest from, string to, int count, double interval, string file)
    {
        var seconds = string.Create(CultureInfo.InvariantCulture, $"{interval}");
        await from.Shell.RunAsync($"ping -c {count} -i {seconds} -W 2 {to} >{file} 2>&1", TimeSpan.FromSeconds((count * interval) + 60));
        return await ReadGuestPingAsync(from, file);
    }

    private static async Task<PingResult> ReadGuestPingAsync(Guest guest, string file) => PingResult.Parse(
        await guest.Shell.ValueAsync($"$(grep 'packets transmitted' {file})"),
        await guest.Shell.ValueAsync($"$(sed -n 's/.* time=\\([0-9.]*\\) ms.*/\\1/p' {file} | tr '\\n' ' ')"),
        await guest.Shell.ValueAsync($"$(sed -n 's/.* seq=\\([0-9]*\\) .*/\\1/p' {file} | tr '\\n' ' ')"));

    // ------------------------------------------------------------------ 2. throughput

    /// <summary>
    /// The sender's side of a transfer, the same shell script in a guest and in a host's namespace (there with busybox's
    /// applets named): <paramref name="blocks"/> × 64 KiB of zeroes from dd through nc to the receiver, timed by
    /// /proc/uptime before and after (10 ms resolution); <c>s</c> is nc's exit status. nc ends once it has sent
    /// everything and the receiver, having read it all, closed the connection.
    /// </summary>
    private static string Sender(string applet, string ip, int blocks) =>
        $"a=$({applet}cut -d' ' -f1 /proc/uptime); {applet}dd if=/dev/zero bs={BlockBytes} count={blocks} 2>/dev/null | {applet}nc {ip} {Port} >/dev/null; s=$?; b=$({applet}cut -d' ' -f1 /proc/uptime)";

    /// <summary>
    /// The receiver: nc listening, its output counted by wc. Its input is a FIFO opened read-write, which never ends: busybox nc
    /// shuts its sending side when its input ends, and the sender would take that as the end.
    /// </summary>
    private static string Receiver(string applet, string fifo) =>
        $"{applet}nc -l -p {Port} <>{fifo} | {applet}wc -c";

    /// <summary>One way of sending bytes from one end to another, timed (seconds) and checked (the bytes the receiver counted).</summary>
    private interface ITransferPath
    {
        string Name { get; }

        /// <summary>For progress lines: overlay, bridge, underlay.</summary>
        string Label { get; }

        string Between { get; }

        Task<(double Seconds, long Received)> TransferAsync(int blocks);
    }

    private static async Task<List<ThroughputRow>> ThroughputAsync(FabricEnvironment environment, Guest a, Guest a2, Guest b, HostEnd hostA, HostEnd hostB, TextWriter progress, List<string> notes)
    {
        ITransferPath[] paths =
        [
            new GuestTransfer("guest → guest, across hosts (overlay: VXLAN)", "overlay", a, b),
            new GuestTransfer("guest → guest, same host (bridge)", "bridge", a, a2),
            new HostTransfer("raw underlay (baseline)", "underlay", hostA, hostB, Path.Combine(environment.Directory, "nc-hold")),
        ];

        progress.WriteLine($"  throughput: busybox dd | nc, {SizingBlocks * BlockBytes / MiB:0} MiB untimed per path to size the transfers (~{TransferSeconds:0} s each), then {Transfers} transfers per path, the paths in turn");
        var blocks = new Dictionary<ITransferPath, int>();
        foreach (var path in paths)
        {
            var (seconds, _) = await path.TransferAsync(SizingBlocks);
            var rate = SizingBlocks / Math.Max(seconds, 0.01);
            blocks[path] = (int)Math.Clamp(Math.Round(rate * TransferSeconds / 16) * 16, MinBlocks, MaxBlocks);
            progress.WriteLine($"    {path.Label}: {SizingBlocks * BlockBytes / MiB / Math.Max(seconds, 0.01):0.0} MiB/s → {blocks[path] * (double)BlockBytes / MiB:0} MiB per transfer");
        }

        var rates = paths.ToDictionary(p => p, _ => new List<double>());
        for (var run = 0; run < Transfers; run++)
        {
            for (var i = 0; i < paths.Length; i++)
            {
                var path = paths[(run + i) % paths.Length];
                var (seconds, received) = await path.TransferAsync(blocks[path]);
                var sent = (long)blocks[path] * BlockBytes;
                if (received != sent)
                {
                    throw new InvalidOperationException($"{path.Name}: the receiver counted {received} bytes of {sent}");
                }

                rates[path].Add(sent / MiB / seconds);
            }

            progress.WriteLine($"    transfer {run + 1}/{Transfers}: {string.Join(", ", paths.Select(p => $"{p.Label} {rates[p][^1]:0.0} MiB/s"))}");
        }

        var underlay = new Stats(rates[paths[2]]).Median;
        var rows = paths.Select(p =>
        {
            var stats = new Stats(rates[p]);
            return new ThroughputRow(p.Name, p.Between, "busybox dd | nc", stats.Count, blocks[p] * (double)BlockBytes / MiB, stats.Median, stats.Min, stats.Max, stats.Median / underlay);
        }).ToList();

        if (await hostA.IperfAsync(hostB) is { } iperf)
        {
            progress.WriteLine($"    underlay, iperf3 -t 3 (reference): {iperf:0.0} MiB/s");
            rows.Add(new ThroughputRow("raw underlay, iperf3 (reference)", $"{hostA.Namespace} → {hostB.Address}", "iperf3 -t 3", 1, null, iperf, iperf, iperf, null));
        }
        else
        {
            notes.Add("iperf3 is not installed: the underlay's own capacity (reference row) was not measured");
        }

        return rows;
    }

    /// <summary>Guest to guest: the receiver started in the background on its console, the sender's script on the other's.</summary>
    private sealed class GuestTransfer(string name, string label, Guest from, Guest to) : ITransferPath
    {
        public string Name => name;

        public string Label => label;

        public string Between => $"{from.Name} ({from.Host}) → {to.Name} ({to.Host})";

        public async Task<(double Seconds, long Received)> TransferAsync(int blocks)
        {
            await to.Shell.MustAsync("rm -f /tmp/rcv /tmp/rcv.part; [ -p /tmp/hold ] || mkfifo /tmp/hold");
            await to.Shell.MustAsync($"( ({Receiver("", "/tmp/hold")} >/tmp/rcv.part && mv /tmp/rcv.part /tmp/rcv) & )");
            await to.Shell.MustAsync($"for i in $(seq 1 100); do netstat -ltn | grep -q ':{Port} ' && break; sleep 0.1; done; netstat -ltn | grep -q ':{Port} '");
            await from.Shell.RunAsync(Sender("", to.Ip, blocks), TimeSpan.FromSeconds(300));
            var result = await from.Shell.ValueAsync("$s $a $b");
            var received = await to.Shell.ValueAsync("$(for i in $(seq 1 100); do [ -s /tmp/rcv ] && break; sleep 0.1; done; cat /tmp/rcv)");
            return (Seconds(result, Between), long.Parse(received.Trim(), CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Host namespace to host namespace: the same scripts, with busybox's applets, run by <c>ip netns exec</c>.</summary>
    private sealed class HostTransfer(string name, string label, HostEnd from, HostEnd to, string fifo) : ITransferPath
    {
        public string Name => name;

        public string Label => label;

        public string Between => $"{from.Namespace} → {to.Address}";

        public async Task<(double Seconds, long Received)> TransferAsync(int blocks)
        {
            if (!File.Exists(fifo))
            {
                await Command.RunAsync("mkfifo", [fifo]);
            }

            var receiver = to.Start("busybox", ["sh", "-c", Receiver("busybox ", fifo)]);
            try
            {
                await to.WaitForListenerAsync(Port);
                var sender = await from.RunAsync("busybox", ["sh", "-c", Sender("busybox ", to.Address, blocks) + "; echo \"$s $a $b\""]);
                var (exit, received, error) = await receiver.WaitAsync(TimeSpan.FromSeconds(30));
                if (exit != 0)
                {
                    throw new InvalidOperationException($"the receiver in {to.Namespace} exited {exit}: {error}");
                }

                return (Seconds(sender, Between), long.Parse(received.Trim(), CultureInfo.InvariantCulture));
            }
            finally
            {
                receiver.Dispose();
            }
        }
    }

    /// <summary>"STATUS START END" (nc's exit status, /proc/uptime before and after) → the seconds between.</summary>
    private static double Seconds(string result, string between)
    {
        var parts = result.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[0] != "0")
        {
            throw new InvalidOperationException($"the transfer {between} failed: '{result}' (nc's status, start, end)");
        }

        var seconds = double.Parse(parts[2], CultureInfo.InvariantCulture) - double.Parse(parts[1], CultureInfo.InvariantCulture);
        return Math.Max(seconds, 0.01);
    }

    // ------------------------------------------------------------------ 3. packets lost through a live migration

    private static async Task<MigrationLossFigures> MigrationLossAsync(FabricClient client, Guest pinger, Guest moved, int rounds, TextWriter progress, List<string> notes)
    {
        progress.WriteLine($"  migration: one untimed round trip of {moved.Name} first");
        var failures = new List<string>();
        foreach (var to in new[] { "host-a", "host-b" })
        {
            if (await MigrateAsync(client, moved.Name, to) is { Failure: { } failure })
            {
                progress.WriteLine($"    warm-up migration FAILED: {failure}");
            }

            await Task.Delay(Settle);
        }

        progress.WriteLine($"  migration: {rounds} rounds, each {moved.Name} host-b → host-a → host-b while {pinger.Name} pings it every {LossIntervalSeconds * 1000:0} ms ({PingsPerMigration} pings per migration, the migration {LeadIn.TotalSeconds:0.0} s after the first)");
        var rows = new List<LossRow>();
        var interval = string.Create(CultureInfo.InvariantCulture, $"{LossIntervalSeconds}");
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var to in new[] { "host-a", "host-b" })
            {
                var from = (await client.GetVmAsync(moved.Name)).Host;
                var file = $"/tmp/ping-mig-{round}-{to}";
                await pinger.Shell.MustAsync($"(ping -c {PingsPerMigration} -i {interval} -W 1 {moved.Ip} >{file} 2>&1 &)");
                var pinging = Stopwatch.StartNew();
                await Task.Delay(LeadIn);
                var (end, failure) = await MigrateAsync(client, moved.Name, to);
                var window = PingsPerMigration * LossIntervalSeconds;
                if (pinging.Elapsed.TotalSeconds > window - 1)
                {
                    notes.Add($"round {round}, {from} → {to}: the migration ended {pinging.Elapsed.TotalSeconds:0.0} s after the ping started, near or past its {window:0} s: losses after the ping ended are not counted");
                }

                // The ping's summary appears once all its packets are sent (and the last answered or given up after 1 s).
                var remaining = TimeSpan.FromSeconds(window + 1) - pinging.Elapsed;
                if (remaining > TimeSpan.Zero)
                {
                    await Task.Delay(remaining);
                }

                var result = await WaitForPingAsync(pinger, file);
                if (failure is not null)
                {
                    failures.Add($"round {round}, {from} → {to}: {failure} ({result.Sent - result.Received} pings lost meanwhile)");
                    progress.WriteLine($"    round {round}, {from} → {to}: migration FAILED: {failure}");
                    await Task.Delay(Settle);
                    continue;
                }

                var row = new LossRow(round, from, to, result.Sent, result.Sent - result.Received, result.LongestGap(), end!.GuestPauseMs, end.GuestPauseMs / (LossIntervalSeconds * 1000), end.TotalMs);
                rows.Add(row);
                progress.WriteLine($"    round {round}, {from} → {to}: {row.Lost} of {row.Sent} lost (longest run {row.LongestGap}), guest pause {end.GuestPauseMs?.ToString(CultureInfo.InvariantCulture) ?? "?"} ms, migration {end.TotalMs} ms");
                await Task.Delay(Settle);
            }
        }

        var lost = new Stats(rows.Select(r => (double)r.Lost));
        var pauses = new Stats(rows.Where(r => r.GuestPauseMs is not null).Select(r => (double)r.GuestPauseMs!.Value));
        var ratio = new Stats(rows.Where(r => r.PauseOverInterval is not null).Select(r => r.PauseOverInterval!.Value));
        return new MigrationLossFigures(
            rounds,
            LossIntervalSeconds * 1000,
            PingsPerMigration,
            rows,
            lost.Count == 0 ? null : lost.Median,
            lost.Count == 0 ? null : lost.Max,
            pauses.Count == 0 ? null : pauses.Median,
            pauses.Count == 0 ? null : pauses.Max,
            ratio.Count == 0 ? null : ratio.Median,
            failures);
    }

    /// <summary>Reads the background ping's file until its summary is there (a minute at most).</summary>
    private static async Task<PingResult> WaitForPingAsync(Guest guest, string file)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var summary = await guest.Shell.ValueAsync($"$(grep 'packets transmitted' {file})");
            if (Summary().IsMatch(summary))
            {
                return await ReadGuestPingAsync(guest, file);
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"no ping summary in {guest.Name}'s {file} within 60 s");
            }

            await Task.Delay(500);
        }
    }

    /// <summary>One migration through the fabric: its end, or why it failed (the VM must still run for the benchmark to go on).</summary>
    private static async Task<(MigrationInfo? End, string? Failure)> MigrateAsync(FabricClient client, string vm, string to)
    {
        var from = (await client.GetVmAsync(vm)).Host;
        await client.MigrateVmAsync(vm, new MigrationRequest { TargetHost = to });
        using var timeout = new CancellationTokenSource(MigrationTimeout);
        var end = await client.WaitForMigrationAsync(vm, cancellationToken: timeout.Token);
        if (end.Phase == MigrationPhase.Succeeded)
        {
            return (end, null);
        }

        var state = await client.GetVmAsync(vm);
        if (state.State != VmState.Running)
        {
            throw new InvalidOperationException($"the migration of {vm} {from} → {to} ended {end.Phase} ({end.Reason}), and the VM is {state.State} on {state.Host}");
        }

        return (null, $"{end.Phase} after {end.TotalMs} ms: {end.Reason}");
    }

    // ------------------------------------------------------------------ the hosts' namespaces

    /// <summary>A host silo's network namespace and underlay address: the baseline's two ends.</summary>
    private sealed class HostEnd(SiloHandle silo)
    {
        public string Namespace { get; } = silo.Namespace ?? throw new InvalidOperationException($"{silo.HostId} runs in no network namespace");

        public string Address => silo.Address;

        public async Task<PingResult> PingAsync(string to, int count, double interval)
        {
            var seconds = string.Create(CultureInfo.InvariantCulture, $"{interval}");
            return PingResult.ParseOutput(await RunAsync("busybox", ["ping", "-c", count.ToString(CultureInfo.InvariantCulture), "-i", seconds, "-W", "2", to]));
        }

        /// <summary>iperf3 for 3 s from this namespace to <paramref name="to"/>'s: the received rate (MiB/s), or null without iperf3.</summary>
        public async Task<double?> IperfAsync(HostEnd to)
        {
            if (!File.Exists("/usr/bin/iperf3"))
            {
                return null;
            }

            using var server = to.Start("iperf3", ["-s", "-1", "-p", IperfPort.ToString(CultureInfo.InvariantCulture)]);
            await to.WaitForListenerAsync(IperfPort);
            var report = await RunAsync("iperf3", ["-c", to.Address, "-p", IperfPort.ToString(CultureInfo.InvariantCulture), "-t", "3", "-J"]);
            await server.WaitAsync(TimeSpan.FromSeconds(10));
            using var json = JsonDocument.Parse(report);
            return json.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() / 8 / MiB;
        }

        /// <summary>Runs a program in this namespace to its end; its output, or throws unless it exits 0.</summary>
        public Task<string> RunAsync(string program, IEnumerable<string> arguments) =>
            Command.RunAsync("ip", ["netns", "exec", Namespace, program, .. arguments]);

        /// <summary>Starts a program in this namespace and leaves it running (its output collected).</summary>
        public Command Start(string program, IEnumerable<string> arguments) =>
            Command.Start("ip", ["netns", "exec", Namespace, program, .. arguments]);

        /// <summary>Waits until something listens on TCP <paramref name="port"/> in this namespace.</summary>
        public async Task WaitForListenerAsync(int port)
        {
            var clock = Stopwatch.StartNew();
            while (!(await RunAsync("busybox", ["netstat", "-ltn"])).Contains($":{port.ToString(CultureInfo.InvariantCulture)} ", StringComparison.Ordinal))
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(10))
                {
                    throw new TimeoutException($"nothing listens on port {port} in {Namespace} after 10 s");
                }

                await Task.Delay(20);
            }
        }
    }

    /// <summary>A program run without a shell, its output collected; killed when disposed if still running.</summary>
    private sealed class Command : IDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _output;
        private readonly Task<string> _error;
        private readonly string _name;

        private Command(string program, IEnumerable<string> arguments)
        {
            var startInfo = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }

            _name = $"{program} {string.Join(' ', startInfo.ArgumentList)}";
            _process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{program} did not start");
            _output = _process.StandardOutput.ReadToEndAsync();
            _error = _process.StandardError.ReadToEndAsync();
        }

        public static Command Start(string program, IEnumerable<string> arguments) => new(program, arguments);

        /// <summary>Runs a program to its end; its output, or throws with what it said unless it exits 0.</summary>
        public static async Task<string> RunAsync(string program, IEnumerable<string> arguments)
        {
            using var command = Start(program, arguments);
            var (exit, output, error) = await command.WaitAsync(TimeSpan.FromMinutes(5));
            return exit == 0 ? output : throw new InvalidOperationException($"{command._name} exited {exit}: {error.Trim()}");
        }

        /// <summary>Waits for the program's end: its exit status and output.</summary>
        public async Task<(int Exit, string Output, string Error)> WaitAsync(TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                throw new TimeoutException($"{_name} did not end within {timeout.TotalSeconds:0} s");
            }

            return (_process.ExitCode, await _output, await _error);
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }
    }
}
