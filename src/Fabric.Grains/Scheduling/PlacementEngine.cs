using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Grains.Scheduling;

/// <summary>A host as the scheduler weighs it: its latest summary (with in-flight reservations added) and whether its silo is up.</summary>
internal sealed record HostCandidate(HostInfo Info, bool Up);

/// <summary>The hosts to try, best first, and why every other host was excluded.</summary>
internal sealed record PlacementPlan(
    PlacementPolicy Policy,
    ImmutableArray<string> Candidates,
    ImmutableSortedDictionary<string, string> Excluded);

/// <summary>
/// Placement as a pure function: filter (up, requested host, cordon, image, host labels, anti-affinity, capacity,
/// affinity) then score (pack: fullest first; spread: emptiest first). The reservation itself is made afterwards,
/// atomically, on the host grain.
/// </summary>
internal static class PlacementEngine
{
    public static PlacementPlan Plan(IReadOnlyCollection<HostCandidate> hosts, PlacementRequest request, PlacementPolicy defaultPolicy)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(request);
        var reservation = request.Reservation;
        var placement = request.Placement;
        var policy = placement.Policy == PlacementPolicy.Default ? defaultPolicy : placement.Policy;

        var up = hosts.Where(h => h.Up).ToList();
        if (up.Count == 0)
        {
            throw FabricException.Unavailable(hosts.Count == 0 ? "no host has joined the fabric" : "every host is Down");
        }

        if (placement.Host is { } requested && hosts.All(h => h.Info.Name != requested))
        {
            throw FabricException.InvalidSpec("placement.host", $"host '{requested}' is not in the fabric");
        }

        if (!up.Any(h => h.Info.Images.Contains(reservation.Image)))
        {
            var known = string.Join(", ", up.SelectMany(h => h.Info.Images).Distinct().Order(StringComparer.Ordinal));
            throw FabricException.InvalidSpec("image", $"unknown image '{reservation.Image}' (available: {known})");
        }

        CheckSize("vcpus", reservation.Resources.VCpus, up.Select(h => (h.Info.Name, (long)h.Info.Capacity.VCpus)), v => $"{v} vCPU");
        CheckSize("memory", reservation.Resources.MemoryMiB, up.Select(h => (h.Info.Name, h.Info.Capacity.MemoryMiB)), Sizes.FormatMiB);

        var excluded = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var fitting = new List<HostInfo>();
        foreach (var (host, isUp) in hosts)
        {
            if (Exclusion(host, isUp, reservation, placement) is { } reason)
            {
                excluded[host.Name] = reason;
            }
            else
            {
                fitting.Add(host);
            }
        }

        // Affinity: once a group has members, new members go where they are.
        if (reservation.AffinityGroup is { } group && hosts.Any(h => h.Up && h.Info.AffinityGroups.Contains(group)))
        {
            foreach (var host in fitting.Where(h => !h.AffinityGroups.Contains(group)).ToList())
            {
                excluded[host.Name] = $"affinity group '{group}' runs elsewhere";
                fitting.Remove(host);
            }
        }

        var ranked = policy == PlacementPolicy.Pack
            ? fitting.OrderByDescending(Load).ThenByDescending(h => h.VmCount)
            : fitting.OrderBy(Load).ThenBy(h => h.VmCount);
        return new PlacementPlan(policy, [.. ranked.ThenBy(h => h.Name, StringComparer.Ordinal).Select(h => h.Name)], excluded.ToImmutable());
    }

    /// <summary>The error for a request no host could take, naming each host and why.</summary>
    public static FabricException NoHost(VmReservation reservation, IReadOnlyDictionary<string, string> reasons)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(reasons);
        var why = string.Join("; ", reasons.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}: {r.Value}"));
        return FabricException.InsufficientCapacity($"no host can take vm '{reservation.Vm}' ({reservation.Resources}): {why}");
    }

    private static string? Exclusion(HostInfo host, bool up, VmReservation reservation, VmPlacement placement)
    {
        if (!up)
        {
            return "Down";
        }

        if (placement.Host is { } requested && host.Name != requested)
        {
            return $"not the requested host '{requested}'";
        }

        if (host.State is HostState.Cordoned or HostState.Draining)
        {
            return host.State.ToString().ToLowerInvariant();
        }

        if (!host.Images.Contains(reservation.Image))
        {
            return $"has no image '{reservation.Image}'";
        }

        foreach (var (key, value) in placement.HostSelector)
        {
            if (!host.Labels.TryGetValue(key, out var actual) || actual != value)
            {
                return $"label {key}={value} not present";
            }
        }

        if (reservation.AntiAffinityGroup is { } group && host.AntiAffinityGroups.Contains(group))
        {
            return $"anti-affinity group '{group}' already has a VM here";
        }

        if (!host.Allocated.Fits(reservation.Resources, host.Capacity))
        {
            return $"needs {reservation.Resources}, {host.Free} free";
        }

        return null;
    }

    /// <summary>A request larger than every host could ever hold is a bad spec, not a full fleet.</summary>
    private static void CheckSize(string field, long requested, IEnumerable<(string Host, long Capacity)> hosts, Func<long, string> format)
    {
        var largest = hosts.MaxBy(h => h.Capacity);
        if (requested > largest.Capacity)
        {
            throw FabricException.InvalidSpec(field, $"{format(requested)} exceeds the capacity of every host (largest: {largest.Host} with {format(largest.Capacity)})");
        }
    }

    /// <summary>How full a host is, 0–1: the fuller of its CPU and memory allocations.</summary>
    private static double Load(HostInfo host) => Math.Max(
        host.Capacity.VCpus == 0 ? 1 : (double)host.Allocated.VCpus / host.Capacity.VCpus,
        host.Capacity.MemoryMiB == 0 ? 1 : (double)host.Allocated.MemoryMiB / host.Capacity.MemoryMiB);
}
