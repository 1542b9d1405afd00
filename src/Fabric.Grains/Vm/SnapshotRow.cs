using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>
/// One snapshot as the VM's record keeps it (part of stored format version 1 of <see cref="VmRecord"/>, field
/// <c>snapshots</c>). The file itself is on <see cref="Host"/>, in <c>snapshots/&lt;vm&gt;/&lt;name&gt;.state</c>.
/// </summary>
[GenerateSerializer, Alias("fabric.SnapshotRow")]
public sealed record SnapshotRow
{
    [Id(0), JsonPropertyName("name")]
    public required string Name { get; init; }

    [Id(1), JsonPropertyName("host")]
    public required string Host { get; init; }

    [Id(2), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    [Id(3), JsonPropertyName("sizeBytes")]
    public long SizeBytes { get; init; }

    [Id(4), JsonPropertyName("guestPauseMs")]
    public long? GuestPauseMs { get; init; }

    [Id(5), JsonPropertyName("totalMs")]
    public long TotalMs { get; init; }

    [Id(6), JsonPropertyName("wasRunning")]
    public bool WasRunning { get; init; }

    [Id(7), JsonPropertyName("memoryMiB")]
    public int MemoryMiB { get; init; }

    [Id(8), JsonPropertyName("method")]
    public string Method { get; init; } = "";

    public SnapshotInfo ToInfo(string vm) => new()
    {
        Name = Name,
        Vm = vm,
        Host = Host,
        CreatedAt = CreatedAt,
        SizeBytes = SizeBytes,
        GuestPauseMs = GuestPauseMs,
        TotalMs = TotalMs,
        WasRunning = WasRunning,
        MemoryMiB = MemoryMiB,
        Method = Method,
    };
}

/// <summary>The rules of a VM's list of snapshots: names, duplicates, the bound, lookups. Pure, so they are unit-tested.</summary>
internal static class VmSnapshots
{
    /// <summary>
    /// Checks that a snapshot named <paramref name="name"/> may be added to <paramref name="existing"/>:
    /// <c>invalid-spec</c> naming the field <c>snapshot</c> for a bad name, <c>conflict</c> for a duplicate or a full list.
    /// </summary>
    public static string RequireNew(string vm, ImmutableArray<SnapshotRow> existing, string? name)
    {
        var valid = Names.Require("snapshot", name);
        if (Find(existing, valid) is { } taken)
        {
            throw FabricException.Conflict($"vm '{vm}' already has a snapshot '{valid}' (taken on host '{taken.Host}' at {taken.CreatedAt:u}); delete it first or choose another name");
        }

        if (existing.Length >= SnapshotLimits.MaxPerVm)
        {
            throw FabricException.Conflict($"vm '{vm}' has {existing.Length} snapshots, the most it may keep ({SnapshotLimits.MaxPerVm}); delete one first ('vm snapshot delete {vm} SNAPSHOT')");
        }

        return valid;
    }

    /// <summary>The snapshot named <paramref name="name"/>: <c>invalid-spec</c> for a bad name, <c>not-found</c> naming it and the VM.</summary>
    public static SnapshotRow Require(string vm, ImmutableArray<SnapshotRow> existing, string? name)
    {
        var valid = Names.Require("snapshot", name);
        return Find(existing, valid) ?? throw new FabricException(ErrorCodes.NotFound, $"snapshot '{valid}' of vm '{vm}' does not exist");
    }

    /// <summary>The list with <paramref name="row"/> added last (its checks passed).</summary>
    public static ImmutableArray<SnapshotRow> Add(ImmutableArray<SnapshotRow> existing, SnapshotRow row) =>
        existing.Length < SnapshotLimits.MaxPerVm && Find(existing, row.Name) is null
            ? existing.Add(row)
            : throw new InvalidOperationException($"snapshot '{row.Name}' cannot be added: check it with RequireNew first");

    public static ImmutableArray<SnapshotRow> Remove(ImmutableArray<SnapshotRow> existing, string name) =>
        existing.RemoveAll(s => s.Name == name);

    /// <summary>
    /// A snapshot is restored where it was taken: <c>conflict</c> naming both hosts when the VM is placed elsewhere now
    /// (moved by a live migration, or placed nowhere).
    /// </summary>
    public static void RequireSameHost(string vm, SnapshotRow snapshot, string placedOn)
    {
        if (snapshot.Host == placedOn)
        {
            return;
        }

        var now = placedOn.Length == 0 ? "is placed on no host" : $"is placed on host '{placedOn}' now";
        throw FabricException.Conflict($"snapshot '{snapshot.Name}' of vm '{vm}' is on host '{snapshot.Host}', but the vm {now}; a snapshot is restored only on the host where it was taken (copying snapshots between hosts is not supported yet)");
    }

    private static SnapshotRow? Find(ImmutableArray<SnapshotRow> existing, string name)
    {
        foreach (var snapshot in existing)
        {
            if (snapshot.Name == name)
            {
                return snapshot;
            }
        }

        return null;
    }
}
