using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Grains.Persistence;

/// <summary>
/// One VM's entry in its host's ledger (stored format, version 1): the reservation of one placement epoch, the
/// instance the host last accepted to launch, and — when the placement was superseded — why, while its process is
/// being stopped. Written before the host acts on it.
/// </summary>
public sealed record LedgerEntry : IStoredRow
{
    public static int CurrentVersion => 1;

    [JsonPropertyName("v")]
    public int Version { get; init; } = CurrentVersion;

    [JsonPropertyName("vm")]
    public required string Vm { get; init; }

    [JsonPropertyName("epoch")]
    public required long Epoch { get; init; }

    /// <summary>The instance the host accepted to launch (written before the launch); empty before the first start.</summary>
    [JsonPropertyName("instanceId")]
    public Guid InstanceId { get; init; }

    [JsonPropertyName("vcpus")]
    public required int VCpus { get; init; }

    [JsonPropertyName("memoryMiB")]
    public required long MemoryMiB { get; init; }

    [JsonPropertyName("image")]
    public required string Image { get; init; }

    [JsonPropertyName("antiAffinityGroup")]
    public string? AntiAffinityGroup { get; init; }

    [JsonPropertyName("affinityGroup")]
    public string? AffinityGroup { get; init; }

    /// <summary>Why the placement was superseded; set, its process is stopped and the entry goes once it is gone. It holds no capacity.</summary>
    [JsonPropertyName("fenced")]
    public string? Fenced { get; init; }

    /// <summary>The migration this placement is the source of; it holds one of the host's outgoing slots.</summary>
    [JsonPropertyName("outgoing")]
    public string? Outgoing { get; init; }

    /// <summary>The migration this placement is the target of; it holds one of the host's incoming slots.</summary>
    [JsonPropertyName("incoming")]
    public string? Incoming { get; init; }

    /// <summary>The VM's disks by slot: what its process is launched with, and what hot-plug changes (written first).</summary>
    [JsonPropertyName("disks")]
    public ImmutableArray<LedgerDisk> Disks { get; init; } = [];

    /// <summary>The VM's NICs by slot: what its process is plugged into, and what hot-plug changes (written first).</summary>
    [JsonPropertyName("nics")]
    public ImmutableArray<LedgerNic> Nics { get; init; } = [];

    [JsonIgnore]
    public Resources Resources => new(VCpus, MemoryMiB);

    [JsonIgnore]
    public VmReservation Reservation => new()
    {
        Vm = Vm,
        Epoch = Epoch,
        Resources = Resources,
        Image = Image,
        AntiAffinityGroup = AntiAffinityGroup,
        AffinityGroup = AffinityGroup,
        IncomingMigration = Incoming,
        Disks = [.. Disks.Select(d => d.ToPlacement())],
        Nics = [.. Nics.Select(n => n.ToPlacement())],
    };

    /// <summary>Equal in everything a reservation holds (a repeated reservation is idempotent only when it is the same).</summary>
    public bool SameReservation(LedgerEntry other) => other is not null && Reservation == other.Reservation;

    public static LedgerEntry From(VmReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        return new LedgerEntry
        {
            Vm = reservation.Vm,
            Epoch = reservation.Epoch,
            VCpus = reservation.Resources.VCpus,
            MemoryMiB = reservation.Resources.MemoryMiB,
            Image = reservation.Image,
            AntiAffinityGroup = reservation.AntiAffinityGroup,
            AffinityGroup = reservation.AffinityGroup,
            Incoming = reservation.IncomingMigration,
            Disks = [.. reservation.Disks.Select(LedgerDisk.From)],
            Nics = [.. reservation.Nics.Select(LedgerNic.From)],
        };
    }
}

/// <summary>One disk of a ledger entry (stored format of <see cref="DiskPlacement"/>).</summary>
public sealed record LedgerDisk
{
    [JsonPropertyName("slot")]
    public required int Slot { get; init; }

    [JsonPropertyName("pool")]
    public required string Pool { get; init; }

    [JsonPropertyName("type")]
    public required PoolType Type { get; init; }

    [JsonPropertyName("path")]
    public required string Path { get; init; }

    [JsonPropertyName("volume")]
    public required string Volume { get; init; }

    public static LedgerDisk From(DiskPlacement disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        return new LedgerDisk { Slot = disk.Slot, Pool = disk.Pool.Pool, Type = disk.Pool.Type, Path = disk.Pool.Path, Volume = disk.Volume };
    }

    public DiskPlacement ToPlacement() => new(Slot, new PoolLocation(Pool, Type, Path), Volume);
}

/// <summary>One NIC of a ledger entry (stored format of <see cref="NicPlacement"/>).</summary>
public sealed record LedgerNic
{
    [JsonPropertyName("slot")]
    public required int Slot { get; init; }

    [JsonPropertyName("network")]
    public required string Network { get; init; }

    [JsonPropertyName("vni")]
    public required int Vni { get; init; }

    [JsonPropertyName("ip")]
    public required string Ip { get; init; }

    [JsonPropertyName("mac")]
    public required string Mac { get; init; }

    [JsonPropertyName("mtu")]
    public required int Mtu { get; init; }

    [JsonPropertyName("prefixLength")]
    public required int PrefixLength { get; init; }

    public static LedgerNic From(NicPlacement nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        return new LedgerNic { Slot = nic.Slot, Network = nic.Network, Vni = nic.Vni, Ip = nic.Ip, Mac = nic.Mac, Mtu = nic.Mtu, PrefixLength = nic.PrefixLength };
    }

    public NicPlacement ToPlacement() => new(Slot, Network, Vni, Ip, Mac, Mtu, PrefixLength);
}

/// <summary>
/// Each host's ledger: one entry per VM placed there, written entry by entry (a host with thousands of VMs must not
/// rewrite one growing blob on every reservation, and the host grain's own state stays small and bounded).
/// </summary>
public interface IReservationLedger
{
    Task<IReadOnlyList<LedgerEntry>> LoadAsync(string host);

    Task SaveAsync(string host, LedgerEntry entry);

    Task RemoveAsync(string host, string vm);

    /// <summary>Deletes a whole host's ledger (when the host is forgotten).</summary>
    Task DeleteAsync(string host);
}

/// <summary>A Redis hash per host: field = VM name, value = the entry as JSON.</summary>
public sealed class RedisReservationLedger(IConnectionMultiplexer redis, string keyPrefix) : IReservationLedger
{
    public async Task<IReadOnlyList<LedgerEntry>> LoadAsync(string host)
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(Key(host));
        return [.. entries.Select(entry => StoredFormat.Read<LedgerEntry>(entry.Value.ToString(), $"ledger of host '{host}', vm '{entry.Name}'"))];
    }

    public Task SaveAsync(string host, LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return redis.GetDatabase().HashSetAsync(Key(host), entry.Vm, StoredFormat.Write(entry));
    }

    public Task RemoveAsync(string host, string vm) => redis.GetDatabase().HashDeleteAsync(Key(host), vm);

    public Task DeleteAsync(string host) => redis.GetDatabase().KeyDeleteAsync(Key(host));

    private RedisKey Key(string host) => $"{keyPrefix}hosts:{host}:reservations";
}

/// <summary>Process memory only: development mode and tests, lost with the process (like in-memory grain storage).</summary>
public sealed class InMemoryReservationLedger : IReservationLedger
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _hosts = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<LedgerEntry>> LoadAsync(string host) =>
        Task.FromResult<IReadOnlyList<LedgerEntry>>([.. Entries(host).Values.Select(json => StoredFormat.Read<LedgerEntry>(json, $"ledger of host '{host}'"))]);

    public Task SaveAsync(string host, LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Entries(host)[entry.Vm] = StoredFormat.Write(entry);
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string host, string vm)
    {
        Entries(host).TryRemove(vm, out _);
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string host)
    {
        _hosts.TryRemove(host, out _);
        return Task.CompletedTask;
    }

    private ConcurrentDictionary<string, string> Entries(string host) =>
        _hosts.GetOrAdd(host, _ => new(StringComparer.Ordinal));
}
