using System.Globalization;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;
using StackExchange.Redis;

namespace Fabric.EndToEndTests.ControlPlane;

/// <summary>
/// The one check every fault test ends with, read from the ground truth rather than through the grains: VM records and
/// ledgers straight from Redis, QEMU processes from /proc and their instance files. It holds when
/// <list type="bullet">
/// <item>no VM has more than one QEMU process, fabric-wide;</item>
/// <item>every QEMU belongs to a record that places it on that host, at that epoch, as that instance, in a state that
/// has a process (Starting, Running, Paused, Stopping) — unless the test names it unmanaged;</item>
/// <item>every Running or Paused VM on a live host has its process;</item>
/// <item>ledger = records: each placed record has its host's entry at its epoch, each entry a record, no fence is left;</item>
/// <item>catalog = records: same VMs, with the same host, epoch and state;</item>
/// <item>each live host's allocation is the sum of the records placed on it;</item>
/// <item>no VM is left Migrating, and no ledger entry holds a migration slot;</item>
/// <item>disks = pools = files: each VM's disks are claimed by it in their pools, each claimed volume is a disk of its
/// VM, no volume is half-made (Creating, Deleting, copying), and each pool directory holds exactly its volumes' files
/// (a local pool's on the volume's host), no temporary file left.</item>
/// <item>NICs = networks = devices: each VM's NICs are held for it by their networks (same address and MAC), each
/// network's NIC is listed by its VM; in each host namespace the taps are exactly the NICs of the VMs whose process runs
/// there, and the bridges exactly the networks those NICs are on.</item>
/// </list>
/// The control plane converges rather than acts at once, so the check is retried until it holds or time runs out.
/// </summary>
internal sealed class FabricInvariants(FabricEnvironment environment, FabricClient client)
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(45);

    /// <summary>VMs whose QEMU process no record claims, on purpose (the unmanaged-process test).</summary>
    public HashSet<string> Unmanaged { get; } = new(StringComparer.Ordinal);

    public async Task AssertHoldAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var violations = await ViolationsAsync();
            if (violations.Count == 0)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("fabric invariants do not hold:\n  " + string.Join("\n  ", violations));
            }

            await Task.Delay(250);
        }
    }

    private async Task<List<string>> ViolationsAsync()
    {
        var violations = new List<string>();
        using var redis = await ConnectionMultiplexer.ConnectAsync(environment.Redis.ClientOptions());
        var database = redis.GetDatabase();
        var records = await ReadRecordsAsync(redis, database);
        var processes = ReadProcesses();
        var hosts = await client.ListHostsAsync();

        foreach (var group in processes.GroupBy(p => p.Vm).Where(g => g.Count() > 1))
        {
            violations.Add($"vm '{group.Key}' has {group.Count()} QEMU processes: {string.Join(", ", group.Select(p => $"pid {p.Pid} on {p.Host}"))}");
        }

        foreach (var process in processes.Where(p => !Unmanaged.Contains(p.Vm)))
        {
            if (!records.TryGetValue(process.Vm, out var record))
            {
                violations.Add($"QEMU pid {process.Pid} on {process.Host} runs vm '{process.Vm}', which has no record");
            }
            else if (record.Host != process.Host || record.Epoch != process.Epoch || record.InstanceId != process.InstanceId)
            {
                violations.Add($"QEMU pid {process.Pid} of vm '{process.Vm}' runs on {process.Host} at epoch {process.Epoch} as {process.InstanceId}; its record says {record.Host} at epoch {record.Epoch} as {record.InstanceId}");
            }
            else if (record.State is not ("Starting" or "Running" or "Paused" or "Stopping" or "Migrating"))
            {
                violations.Add($"QEMU pid {process.Pid} of vm '{process.Vm}' runs but its record is {record.State}");
            }
        }

        foreach (var record in records.Values.Where(r => r.State == "Migrating"))
        {
            violations.Add($"vm '{record.Name}' is still Migrating");
        }

        var up = hosts.Where(h => h.State != HostState.Down).Select(h => h.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var record in records.Values.Where(r => r.State is "Running" or "Paused" && up.Contains(r.Host)))
        {
            if (!processes.Any(p => p.Vm == record.Name && p.Host == record.Host && p.InstanceId == record.InstanceId))
            {
                violations.Add($"vm '{record.Name}' is {record.State} on {record.Host} but no QEMU process of instance {record.InstanceId} runs there");
            }
        }

        var entries = new List<(string Host, string Vm, long Epoch, bool Fenced)>();
        foreach (var host in environment.Silos.Keys)
        {
            foreach (var field in await database.HashGetAllAsync($"fabric:{environment.ServiceId}:hosts:{host}:reservations"))
            {
                using var json = JsonDocument.Parse(field.Value.ToString());
                entries.Add((host, field.Name.ToString(), json.RootElement.GetProperty("epoch").GetInt64(), json.RootElement.TryGetProperty("fenced", out var fenced) && fenced.ValueKind == JsonValueKind.String));
                foreach (var slot in new[] { "outgoing", "incoming" })
                {
                    if (json.RootElement.TryGetProperty(slot, out var migration) && migration.ValueKind == JsonValueKind.String)
                    {
                        violations.Add($"host {host} still holds an {slot} migration slot for vm '{field.Name}' (migration {migration.GetString()})");
                    }
                }
            }
        }

        foreach (var entry in entries)
        {
            if (entry.Fenced)
            {
                violations.Add($"host {entry.Host} still holds a fenced entry for vm '{entry.Vm}' (epoch {entry.Epoch})");
            }
            else if (!records.TryGetValue(entry.Vm, out var record) || record.Host != entry.Host || record.Epoch != entry.Epoch)
            {
                violations.Add($"host {entry.Host} holds vm '{entry.Vm}' at epoch {entry.Epoch}, which no record places there");
            }
        }

        foreach (var record in records.Values.Where(r => r.Host.Length > 0))
        {
            if (!entries.Any(e => e.Vm == record.Name && e.Host == record.Host && e.Epoch == record.Epoch && !e.Fenced))
            {
                violations.Add($"vm '{record.Name}' is placed on {record.Host} at epoch {record.Epoch} but that host's ledger does not hold it");
            }
        }

        var catalog = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var field in await database.HashGetAllAsync($"fabric:{environment.ServiceId}:vms"))
        {
            catalog[field.Name.ToString()] = JsonDocument.Parse(field.Value.ToString()).RootElement.Clone();
        }

        foreach (var name in catalog.Keys.Except(records.Keys))
        {
            violations.Add($"the catalog lists vm '{name}', which has no record");
        }

        foreach (var record in records.Values)
        {
            if (!catalog.TryGetValue(record.Name, out var row))
            {
                violations.Add($"vm '{record.Name}' has no catalog row");
            }
            else if (row.GetProperty("host").GetString() != record.Host || row.GetProperty("epoch").GetInt64() != record.Epoch || row.GetProperty("state").GetString() != record.State)
            {
                violations.Add($"vm '{record.Name}': catalog row says {row.GetProperty("state").GetString()} on {row.GetProperty("host").GetString()} at epoch {row.GetProperty("epoch").GetInt64()}, the record {record.State} on {record.Host} at epoch {record.Epoch}");
            }
        }

        violations.AddRange(await StorageViolationsAsync(redis, database, records));
        violations.AddRange(await NetworkViolationsAsync(redis, database, records, processes));
        foreach (var host in up.Where(environment.Silos.ContainsKey))
        {
            var info = await client.GetHostAsync(host);
            var placed = records.Values.Where(r => r.Host == host).ToList();
            // Each VM holds its RAM plus the memory overhead its host charges for its process.
            var sum = placed.Aggregate(Resources.Zero, (total, r) => total + info.MemoryOverhead.Charge(new Resources(r.VCpus, r.MemoryMiB)));
            if (info.Allocated != sum)
            {
                violations.Add($"host {host} has {info.Allocated} allocated; its records add up to {sum}");
            }
        }

        return violations;
    }

    /// <summary>Every VM record, read from the grain storage in Redis (<c>{ServiceId}/state/vm/{name}/vm</c>, field <c>data</c>).</summary>
    private async Task<Dictionary<string, StoredVm>> ReadRecordsAsync(ConnectionMultiplexer redis, IDatabase database)
    {
        var records = new Dictionary<string, StoredVm>(StringComparer.Ordinal);
        var prefix = $"{environment.ServiceId}/state/vm/";
        foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: prefix + "*/vm"))
        {
            var data = await database.HashGetAsync(key, "data");
            if (data.IsNull)
            {
                continue;
            }

            using var json = JsonDocument.Parse(data.ToString());
            var root = json.RootElement;
            if (!root.TryGetProperty("spec", out var spec) || spec.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var name = spec.GetProperty("name").GetString()!;
            records[name] = new StoredVm(
                name,
                root.GetProperty("state").GetString()!,
                root.GetProperty("host").GetString()!,
                root.GetProperty("epoch").GetInt64(),
                root.TryGetProperty("instanceId", out var instance) && instance.ValueKind == JsonValueKind.String ? instance.GetGuid() : Guid.Empty,
                spec.GetProperty("vcpus").GetInt32(),
                spec.GetProperty("memoryMiB").GetInt32(),
                root.TryGetProperty("disks", out var disks) && disks.ValueKind == JsonValueKind.Array
                    ? [.. disks.EnumerateArray().Select(d => $"{d.GetProperty("pool").GetString()}/{d.GetProperty("volume").GetString()}")]
                    : [],
                root.TryGetProperty("nics", out var nics) && nics.ValueKind == JsonValueKind.Array
                    ? [.. nics.EnumerateArray().Select(n => new StoredNic(n.GetProperty("network").GetString()!, n.GetProperty("slot").GetInt32(), n.GetProperty("vni").GetInt32(), n.GetProperty("ip").GetString()!, n.GetProperty("mac").GetString()!))]
                    : []);
        }

        return records;
    }

    /// <summary>Pools (<c>{ServiceId}/state/storagepool/{name}/pool</c>) against VM records and against the files on disk.</summary>
    private async Task<List<string>> StorageViolationsAsync(ConnectionMultiplexer redis, IDatabase database, Dictionary<string, StoredVm> records)
    {
        var violations = new List<string>();
        var claimed = new Dictionary<string, string?>(StringComparer.Ordinal);
        var prefix = $"{environment.ServiceId}/state/storagepool/";
        foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: prefix + "*/pool"))
        {
            var data = await database.HashGetAsync(key, "data");
            if (data.IsNull)
            {
                continue;
            }

            using var json = JsonDocument.Parse(data.ToString());
            var root = json.RootElement;
            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                continue;
            }

            var pool = key.ToString()[prefix.Length..^"/pool".Length];
            var local = type.GetString() == "Local";
            var path = root.GetProperty("path").GetString()!;
            var expected = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var volume in root.GetProperty("volumes").EnumerateObject())
            {
                var row = volume.Value;
                var state = row.GetProperty("state").GetString();
                if (state != "Ready")
                {
                    violations.Add($"volume {pool}/{volume.Name} is {state}");
                }

                if (row.TryGetProperty("copy", out var copy) && copy.ValueKind == JsonValueKind.Object)
                {
                    violations.Add($"volume {pool}/{volume.Name} is still being copied to {copy.GetProperty("host").GetString()}");
                }

                var holder = row.TryGetProperty("attachedTo", out var attached) && attached.ValueKind == JsonValueKind.String ? attached.GetString() : null;
                claimed[$"{pool}/{volume.Name}"] = holder;
                if (holder is not null && (!records.TryGetValue(holder, out var vm) || !vm.Disks.Contains($"{pool}/{volume.Name}")))
                {
                    violations.Add($"volume {pool}/{volume.Name} is claimed by vm '{holder}', which does not list it as a disk");
                }

                var directory = local ? Path.Combine(path, row.GetProperty("host").GetString() ?? "?") : path;
                if (!expected.TryGetValue(directory, out var names))
                {
                    expected[directory] = names = new HashSet<string>(StringComparer.Ordinal);
                }

                names.Add(volume.Name + ".qcow2");
            }

            var directories = local && Directory.Exists(path) ? Directory.GetDirectories(path) : [path];
            foreach (var directory in directories.Union(expected.Keys))
            {
                var volumes = Path.Combine(directory, "volumes");
                var present = Directory.Exists(volumes) ? Directory.GetFiles(volumes).Select(f => Path.GetFileName(f)).ToHashSet(StringComparer.Ordinal) : [];
                var wanted = expected.GetValueOrDefault(directory) ?? [];
                foreach (var extra in present.Except(wanted))
                {
                    violations.Add($"pool {pool}: file {Path.Combine(volumes, extra)} belongs to no volume");
                }

                foreach (var missing in wanted.Except(present))
                {
                    violations.Add($"pool {pool}: volume file {Path.Combine(volumes, missing)} is missing");
                }
            }
        }

        foreach (var vm in records.Values)
        {
            foreach (var disk in vm.Disks.Where(d => !claimed.TryGetValue(d, out var holder) || holder != vm.Name))
            {
                violations.Add($"vm '{vm.Name}' lists disk {disk}, which its pool does not hold for it");
            }
        }

        return violations;
    }

    /// <summary>
    /// Networks (<c>{ServiceId}/state/virtualnetwork/{name}/network</c>) against VM records, and each host namespace's
    /// devices against the VMs running there.
    /// </summary>
    private async Task<List<string>> NetworkViolationsAsync(ConnectionMultiplexer redis, IDatabase database, Dictionary<string, StoredVm> records, List<RunningQemu> processes)
    {
        var violations = new List<string>();
        var held = new HashSet<(string Vm, string Network, int Slot)>();
        var prefix = $"{environment.ServiceId}/state/virtualnetwork/";
        foreach (var key in redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: prefix + "*/network"))
        {
            var data = await database.HashGetAsync(key, "data");
            if (data.IsNull)
            {
                continue;
            }

            using var json = JsonDocument.Parse(data.ToString());
            var root = json.RootElement;
            if (!root.TryGetProperty("vni", out var vni) || vni.GetInt32() == 0)
            {
                continue;
            }

            var network = key.ToString()[prefix.Length..^"/network".Length];
            foreach (var port in root.GetProperty("ports").EnumerateObject().Select(p => p.Value))
            {
                var vm = port.GetProperty("vm").GetString()!;
                var slot = port.GetProperty("slot").GetInt32();
                held.Add((vm, network, slot));
                if (!records.TryGetValue(vm, out var record) || !record.Nics.Any(n => n.Network == network && n.Slot == slot))
                {
                    violations.Add($"network {network} holds NIC {slot} for vm '{vm}', which does not list it");
                }
            }
        }

        foreach (var vm in records.Values)
        {
            foreach (var nic in vm.Nics.Where(n => !held.Contains((vm.Name, n.Network, n.Slot))))
            {
                violations.Add($"vm '{vm.Name}' lists NIC {nic.Slot} on {nic.Network} ({nic.Ip}), which its network does not hold for it");
            }
        }

        foreach (var silo in environment.Silos.Values.Where(s => s.Namespace is not null))
        {
            var links = await NamespaceLinks.ReadAsync(silo.Namespace!);
            var running = processes.Where(p => p.Host == silo.HostId).Select(p => p.Vm).ToHashSet(StringComparer.Ordinal);
            var nics = records.Values.Where(r => running.Contains(r.Name)).SelectMany(r => r.Nics).ToList();
            var wantedTaps = nics.Select(n => "ft" + n.Mac[3..].Replace(":", "", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
            var wantedBridges = nics.Select(n => $"fb{n.Vni:x6}").ToHashSet(StringComparer.Ordinal);
            var taps = links.Where(l => l.Name.StartsWith("ft", StringComparison.Ordinal)).Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
            var bridges = links.Where(l => l.Kind == "bridge" && l.Name.StartsWith("fb", StringComparison.Ordinal)).Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
            violations.AddRange(taps.Except(wantedTaps).Select(t => $"host {silo.HostId}: tap {t} belongs to no NIC of a VM running there"));
            violations.AddRange(wantedTaps.Except(taps).Select(t => $"host {silo.HostId}: tap {t} of a VM running there is missing"));
            violations.AddRange(bridges.Except(wantedBridges).Select(b => $"host {silo.HostId}: bridge {b} belongs to no network a VM running there is on"));
            violations.AddRange(wantedBridges.Except(bridges).Select(b => $"host {silo.HostId}: bridge {b} of a network a VM running there is on is missing"));
        }

        return violations;
    }

    /// <summary>The environment's live QEMU processes: VM name and uuid from the command line, host from the pid file's path, epoch from the VM's record.</summary>
    private List<RunningQemu> ReadProcesses()
    {
        var processes = new List<RunningQemu>();
        var data = Path.Combine(environment.Directory, "data") + "/";
        foreach (var pid in environment.QemuPids())
        {
            var arguments = Processes.Arguments(pid);
            var pidFile = Argument(arguments, "-pidfile");
            if (pidFile is null || !pidFile.StartsWith(data, StringComparison.Ordinal))
            {
                continue;
            }

            // The pid file is in the VM's run directory (named by a hash); the VM's name is in -name guest=NAME,….
            var host = pidFile[data.Length..].Split('/')[0];
            var vm = Argument(arguments, "-name") is { } name && name.StartsWith("guest=", StringComparison.Ordinal) ? name["guest=".Length..].Split(',')[0] : "";
            var vmDirectory = Path.Combine(data, host, "vms", vm);
            var instance = Guid.Parse(Argument(arguments, "-uuid")!, CultureInfo.InvariantCulture);
            long epoch = -1;
            try
            {
                using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(vmDirectory, "instance.json")));
                epoch = json.RootElement.GetProperty("epoch").GetInt64();
            }
            catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException)
            {
                // Reported as an epoch mismatch below.
            }

            processes.Add(new RunningQemu(pid, host, vm, epoch, instance));
        }

        return processes;
    }

    private static string? Argument(IReadOnlyList<string> arguments, string option)
    {
        for (var i = 0; i < arguments.Count - 1; i++)
        {
            if (arguments[i] == option)
            {
                return arguments[i + 1];
            }
        }

        return null;
    }

    private sealed record StoredVm(string Name, string State, string Host, long Epoch, Guid InstanceId, int VCpus, int MemoryMiB, IReadOnlyList<string> Disks, IReadOnlyList<StoredNic> Nics);

    private sealed record StoredNic(string Network, int Slot, int Vni, string Ip, string Mac);

    private sealed record RunningQemu(int Pid, string Host, string Vm, long Epoch, Guid InstanceId);
}
