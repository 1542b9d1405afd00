using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Fabric.Grains.HostPinning;

/// <summary>
/// Which silo serves which host, read from Orleans membership (active silos) and silo metadata (the host ids each silo
/// published at start-up under <see cref="MetadataKey"/>). A host no active silo serves is Down.
/// Every placement and most VM requests ask it, so the answer is a map rebuilt when membership changes, never per call.
/// When two active silos claim one host id, the one that joined first serves it.
/// </summary>
public sealed partial class HostDirectory(IClusterMembershipService membership, ISiloMetadataCache metadata, ILogger<HostDirectory> logger)
    : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>The silo metadata key whose value lists the host ids a silo serves, comma-separated.</summary>
    public const string MetadataKey = "fabric.hosts";

    /// <summary>How soon to look again while an active silo's metadata has not arrived yet.</summary>
    private static readonly TimeSpan MetadataRetry = TimeSpan.FromMilliseconds(100);

    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _resolved = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile FrozenDictionary<string, SiloAddress> _hosts = FrozenDictionary<string, SiloAddress>.Empty;
    private Task _watch = Task.CompletedTask;
    private int _disposed;

    /// <summary>The active silo serving <paramref name="hostId"/>, or null when the host is Down.</summary>
    public SiloAddress? SiloOf(string hostId) => _hosts.GetValueOrDefault(hostId);

    public bool IsUp(string hostId) => _hosts.ContainsKey(hostId);

    /// <summary>The hosts whose silo is active now, in name order.</summary>
    public IEnumerable<string> UpHosts => _hosts.Keys.Order(StringComparer.Ordinal);

    /// <summary>Completes once the map has been built from a membership view in which every active silo's metadata is known.</summary>
    public Task WaitUntilResolvedAsync(CancellationToken cancellationToken) => _resolved.Task.WaitAsync(cancellationToken);

    public static string FormatMetadata(IEnumerable<string> hostIds) => string.Join(',', hostIds);

    void ILifecycleParticipant<ISiloLifecycle>.Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(HostDirectory), ServiceLifecycleStage.RuntimeServices, OnStartAsync, OnStopAsync);

    /// <summary>Stops following membership; safe to call more than once (the container may dispose it through each registration).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
            _stopping.Dispose();
        }
    }

    private Task OnStartAsync(CancellationToken cancellationToken)
    {
        Refresh();
        _watch = Task.Run(() => WatchAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task OnStopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _watch.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var updates = membership.MembershipUpdates.GetAsyncEnumerator(cancellationToken);
            var next = updates.MoveNextAsync().AsTask();
            while (!cancellationToken.IsCancellationRequested)
            {
                // Metadata reaches the cache shortly after a silo joins: look again soon while some is missing.
                var unresolved = Refresh();
                var woken = unresolved
                    ? await Task.WhenAny(next, Task.Delay(MetadataRetry, cancellationToken))
                    : await Task.WhenAny(next);
                if (woken == next)
                {
                    if (!await next)
                    {
                        return;
                    }

                    next = updates.MoveNextAsync().AsTask();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogWatchFailed(ex);
        }
    }

    /// <summary>Rebuilds the map from the current membership; true while an active silo's metadata is still missing.</summary>
    private bool Refresh()
    {
        var hosts = new Dictionary<string, SiloAddress>(StringComparer.Ordinal);
        var unresolved = false;
        foreach (var member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status != SiloStatus.Active)
            {
                continue;
            }

            if (!metadata.GetSiloMetadata(member.SiloAddress).Metadata.TryGetValue(MetadataKey, out var list))
            {
                unresolved = true;
                continue;
            }

            foreach (var hostId in list.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                // Two live silos claiming one host: the one serving it first keeps it. The newcomer sees that it is
                // not the host's silo and exits (HostAgent); a restart of the same silo on the same endpoint is not a
                // newcomer, since Orleans declares the older generation of an endpoint dead when the newer one joins.
                if (!hosts.TryGetValue(hostId, out var existing) || IsOlder(member.SiloAddress, existing))
                {
                    hosts[hostId] = member.SiloAddress;
                }
            }
        }

        _hosts = hosts.ToFrozenDictionary(StringComparer.Ordinal);
        if (!unresolved)
        {
            _resolved.TrySetResult();
        }

        return unresolved;
    }

    private static bool IsOlder(SiloAddress candidate, SiloAddress incumbent) =>
        candidate.Generation != incumbent.Generation
            ? candidate.Generation < incumbent.Generation
            : string.CompareOrdinal(candidate.ToParsableString(), incumbent.ToParsableString()) < 0;

    [LoggerMessage(Level = LogLevel.Error, Message = "Host directory stopped following cluster membership")]
    private partial void LogWatchFailed(Exception exception);
}
