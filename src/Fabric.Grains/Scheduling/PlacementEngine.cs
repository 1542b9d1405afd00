using Fabric.Contracts;

namespace Fabric.Grains.Scheduling;

/// <summary>A host as the scheduler weighs it: its latest summary (with in-flight reservations added) and whether its silo is up.</summary>
internal sealed record HostCandidate(HostInfo Info, bool Up);

/// <summary>The hosts to try, best first, under the policy that ranked them.</summary>
internal sealed record PlacementPlan(PlacementPolicy Policy, string[] Candidates);

/// <summary>
/// Placement as a pure function: filter (up, requested host, cordon, image, host labels, anti-affinity, capacity,
/// affinity) then score (pack: fullest first; spread: emptiest first). The reservation itself is made afterwards,
/// atomically, on the host grain. Every placement in the fleet runs through here on one scheduler activation, so
/// the common path allocates little; the reasons for exclusion are only worked out when no host takes the VM.
/// </summary>
internal static class PlacementEngine
{
    public static PlacementPlan Plan(IReadOnlyList<HostCandidate> hosts, PlacementRequest request, PlacementPolicy defaultPolicy)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(request);
        var reservation = request.Reservation;
        var placement = request.Placement;
        var policy = placement.Policy == PlacementPolicy.Default ? defaultPolicy : placement.Policy;
        CheckRequest(hosts, reservation, placement);

        // Affinity: once a group has members on a live host, new members go where they are.
        var affinity = reservation.AffinityGroup is { } group && hosts.Any(h => h.Up && h.Info.AffinityGroups.Contains(group)) ? group : null;
        var fitting = new List<(double Load, int VmCount, string Name)>(hosts.Count);
        foreach (var (host, up) in hosts)
        {
            if (Exclusion(host, up, request, explain: false) is null && (affinity is null || host.AffinityGroups.Contains(affinity)))
            {
                fitting.Add((Load(host), host.VmCount, host.Name));
            }
        }

        var sign = policy == PlacementPolicy.Pack ? -1 : 1;
        fitting.Sort((a, b) =>
        {
            var byLoad = sign * a.Load.CompareTo(b.Load);
            if (byLoad != 0)
            {
                return byLoad;
            }

            var byCount = sign * a.VmCount.CompareTo(b.VmCount);
            return byCount != 0 ? byCount : string.CompareOrdinal(a.Name, b.Name);
        });
        return new PlacementPlan(policy, [.. fitting.Select(f => f.Name)]);
    }

    /// <summary>Why each host that <see cref="Plan"/> left out was left out (worked out only for the error).</summary>
    public static SortedDictionary<string, string> Exclusions(IReadOnlyList<HostCandidate> hosts, PlacementRequest request)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(request);
        var reservation = request.Reservation;
        var affinity = reservation.AffinityGroup is { } group && hosts.Any(h => h.Up && h.Info.AffinityGroups.Contains(group)) ? group : null;
        var excluded = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (host, up) in hosts)
        {
            if (Exclusion(host, up, request, explain: true) is { } reason)
            {
                excluded[host.Name] = reason;
            }
            else if (affinity is not null && !host.AffinityGroups.Contains(affinity))
            {
                excluded[host.Name] = $"affinity group '{affinity}' runs elsewhere";
            }
        }

        return excluded;
    }

    /// <summary>The error for a request no host could take, naming each host and why.</summary>
    public static FabricException NoHost(VmReservation reservation, IReadOnlyDictionary<string, string> reasons)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(reasons);
        var why = string.Join("; ", reasons.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}: {r.Value}"));
        return FabricException.InsufficientCapacity($"no host can take vm '{reservation.Vm}' ({reservation.Resources}): {why}");
    }

    /// <summary>
    /// Errors that no amount of free capacity would cure: no host up, an unknown host or image, a VM larger than every
    /// live host.
    /// </summary>
    private static void CheckRequest(IReadOnlyList<HostCandidate> hosts, VmReservation reservation, VmPlacement placement)
    {
        var anyUp = false;
        var imageKnown = false;
        var requestedKnown = placement.Host is null;
        HostInfo? mostCpus = null;
        HostInfo? mostMemory = null;
        var memoryFits = false;
        foreach (var (host, up) in hosts)
        {
            requestedKnown |= host.Name == placement.Host;
            if (!up)
            {
                continue;
            }

            anyUp = true;
            imageKnown |= host.Images.Contains(reservation.Image);
            if (mostCpus is null || host.Capacity.VCpus > mostCpus.Capacity.VCpus)
            {
                mostCpus = host;
            }

            memoryFits |= host.MemoryOverhead.Charge(reservation.Resources).MemoryMiB <= host.Capacity.MemoryMiB;
            if (mostMemory is null || host.Capacity.MemoryMiB > mostMemory.Capacity.MemoryMiB)
            {
                mostMemory = host;
            }
        }

        if (!anyUp)
        {
            throw FabricException.Unavailable(hosts.Count == 0 ? "no host has joined the fabric" : "every host is Down");
        }

        if (!requestedKnown)
        {
            throw FabricException.InvalidSpec("placement.host", $"host '{placement.Host}' is not in the fabric");
        }

        if (!imageKnown)
        {
            var known = string.Join(", ", hosts.Where(h => h.Up).SelectMany(h => h.Info.Images).Distinct().Order(StringComparer.Ordinal));
            throw FabricException.InvalidSpec("image", $"unknown image '{reservation.Image}' (available: {known})");
        }

        if (reservation.Resources.VCpus > mostCpus!.Capacity.VCpus)
        {
            throw FabricException.InvalidSpec("vcpus", $"{reservation.Resources.VCpus} vCPU exceeds the capacity of every host (largest: {mostCpus.Name} with {mostCpus.Capacity.VCpus} vCPU)");
        }

        if (!memoryFits)
        {
            var overhead = mostMemory!.MemoryOverhead.MiB(reservation.Resources.VCpus, reservation.Resources.MemoryMiB);
            throw FabricException.InvalidSpec("memory", $"{Sizes.FormatMiB(reservation.Resources.MemoryMiB)}{(overhead == 0 ? "" : $" (+ {Sizes.FormatMiB(overhead)} overhead)")} exceeds the capacity of every host (largest: {mostMemory.Name} with {Sizes.FormatMiB(mostMemory.Capacity.MemoryMiB)})");
        }
    }

    /// <summary>Why <paramref name="host"/> cannot take the request, or null; without <paramref name="explain"/> only whether.</summary>
    private static string? Exclusion(HostInfo host, bool up, PlacementRequest request, bool explain)
    {
        const string Excluded = "excluded";
        var (reservation, placement) = (request.Reservation, request.Placement);
        if (!up)
        {
            return "Down";
        }

        if (!request.ExcludedHosts.IsDefaultOrEmpty && request.ExcludedHosts.Contains(host.Name))
        {
            return explain ? "the VM's current host" : Excluded;
        }

        if (request.AllowedHosts is { } allowed && !allowed.Hosts.Contains(host.Name))
        {
            return explain ? $"not where its storage is ({allowed.Reason})" : Excluded;
        }

        if (placement.Host is { } requested && host.Name != requested)
        {
            return explain ? $"not the requested host '{requested}'" : Excluded;
        }

        if (host.State is HostState.Cordoned or HostState.Draining)
        {
            return explain ? host.State.ToString().ToLowerInvariant() : Excluded;
        }

        if (!reservation.Nics.IsDefaultOrEmpty && !host.Networking)
        {
            return explain ? "cannot realize virtual networks (its silo does not run in a network namespace of its own)" : Excluded;
        }

        if (!host.Images.Contains(reservation.Image))
        {
            return explain ? $"has no image '{reservation.Image}'" : Excluded;
        }

        foreach (var (key, value) in placement.HostSelector)
        {
            if (!host.Labels.TryGetValue(key, out var actual) || actual != value)
            {
                return explain ? $"label {key}={value} not present" : Excluded;
            }
        }

        if (reservation.AntiAffinityGroup is { } group && host.AntiAffinityGroups.Contains(group))
        {
            return explain ? $"anti-affinity group '{group}' already has a VM here" : Excluded;
        }

        if (!host.Allocated.Fits(host.MemoryOverhead.Charge(reservation.Resources), host.Capacity))
        {
            return explain ? $"needs {host.MemoryOverhead.Describe(reservation.Resources)}, {host.Free} free" : Excluded;
        }

        return null;
    }

    /// <summary>How full a host is, 0–1: the fuller of its CPU and memory allocations.</summary>
    private static double Load(HostInfo host) => Math.Max(
        host.Capacity.VCpus == 0 ? 1 : (double)host.Allocated.VCpus / host.Capacity.VCpus,
        host.Capacity.MemoryMiB == 0 ? 1 : (double)host.Allocated.MemoryMiB / host.Capacity.MemoryMiB);
}
