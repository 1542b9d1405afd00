using System.Collections.Immutable;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Hosts (<c>/v1/hosts</c>), live migration (<c>/v1/vms/{vm}/migration</c>) and drains.</summary>
public sealed partial class FabricApiClient
{
    /// <summary>How long one long poll for a migration's next version asks the server to wait.</summary>
    private const int MigrationWaitSeconds = 30;

    /// <summary>How long a follower of a migration waits for the API to answer again (its coordinator's silo died).</summary>
    private static readonly TimeSpan MigrationPatience = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a drain's follower looks at a VM the drain has not yet started to move.</summary>
    private static readonly TimeSpan DrainPollInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a drain's follower keeps waiting for a VM's migration once the host is no longer Draining and no VM of
    /// the drain has started or ended a migration (a drain that queued it may still be about to start it).
    /// </summary>
    private static readonly TimeSpan DrainQuietPeriod = TimeSpan.FromSeconds(30);

    /// <summary>Every host the fabric knows, Down ones included.</summary>
    public Task<ImmutableArray<HostInfo>> ListHostsAsync() => ListAsync<HostInfo>("v1/hosts", CancellationToken.None);

    /// <summary>One host with its VMs (from the host itself while it is up; its last known summary when Down).</summary>
    public Task<HostInfo> GetHostAsync(string name) => GetAsync<HostInfo>($"v1/hosts/{Segment(name)}", CancellationToken.None);

    public Task<HostInfo> CordonHostAsync(string name) => PostAsync<HostInfo>($"v1/hosts/{Segment(name)}/cordon", null, CancellationToken.None);

    public Task<HostInfo> UncordonHostAsync(string name) => PostAsync<HostInfo>($"v1/hosts/{Segment(name)}/uncordon", null, CancellationToken.None);

    /// <summary>
    /// Forgets a Down host (machine binding, settings, ledger, inventory) so that another machine may serve its id;
    /// <c>conflict</c> while it is up or has VMs placed on it.
    /// </summary>
    public Task ForgetHostAsync(string name) => SendAsync(HttpMethod.Delete, $"v1/hosts/{Segment(name)}", null, CancellationToken.None);

    // ---------------------------------------------------------------- migration

    /// <summary>Starts a live migration of the VM; returns at once with the migration in its first phase.</summary>
    public Task<MigrationInfo> MigrateVmAsync(string name, MigrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync<MigrationInfo>($"v1/vms/{Segment(name)}/migrate", request, CancellationToken.None);
    }

    /// <summary>Cancels the VM's migration under way (<c>conflict</c> once it has switched over).</summary>
    public Task<MigrationInfo> CancelMigrationAsync(string name) =>
        SendAsync<MigrationInfo>(HttpMethod.Delete, $"v1/vms/{Segment(name)}/migration", null, _connection.RequestTimeout, CancellationToken.None);

    /// <summary>The VM's migration under way, else its last one.</summary>
    public Task<MigrationInfo> GetMigrationAsync(string name) => GetAsync<MigrationInfo>($"v1/vms/{Segment(name)}/migration", CancellationToken.None);

    /// <summary>The VM's migration once it has moved past <paramref name="version"/> (or after a second).</summary>
    public Task<MigrationInfo> WaitForMigrationChangeAsync(string name, long version) =>
        WaitForMigrationChangeAsync(name, version, 1, CancellationToken.None);

    /// <summary>Follows the VM's migration to its end, reporting every change to <paramref name="progress"/>.</summary>
    public async Task<MigrationInfo> WaitForMigrationAsync(string name, IProgress<MigrationInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        MigrationInfo? info = null;
        var unreachableSince = (DateTimeOffset?)null;
        while (info is not { IsFinished: true })
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                info = info is null
                    ? await GetAsync<MigrationInfo>($"v1/vms/{Segment(name)}/migration", cancellationToken)
                    : await WaitForMigrationChangeAsync(name, info.Version, MigrationWaitSeconds, cancellationToken);
                unreachableSince = null;
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Unavailable && DateTimeOffset.UtcNow - (unreachableSince ??= DateTimeOffset.UtcNow) < MigrationPatience)
            {
                // The coordinator's silo died: it comes back on another silo (its state is persisted); ask again.
                await Task.Delay(RetryDelay, cancellationToken);
                continue;
            }

            progress?.Report(info);
        }

        return info;
    }

    /// <summary>
    /// Drains a host: the API cordons it and live-migrates each of its running or paused VMs away (202), and this
    /// follows the drain until each VM has left, cannot leave, or the drain has passed it by, reporting each VM's
    /// outcome as it is known. A VM that cannot move is reported and left where it runs; the host stays cordoned
    /// (<see cref="UncordonHostAsync"/> returns it).
    /// </summary>
    public async Task<ImmutableArray<DrainResult>> DrainHostAsync(string host, IProgress<DrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        // Each VM's last migration before the drain: any other one afterwards is the drain's.
        var before = await GetHostAsync(host);
        var earlier = new Dictionary<string, string?>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(before.Vms, new ParallelOptions { MaxDegreeOfParallelism = FabricBulk.DefaultParallelism, CancellationToken = cancellationToken }, async (vm, _) =>
        {
            var id = (await LastMigrationAsync(vm))?.Id;
            lock (earlier)
            {
                earlier[vm] = id;
            }
        });

        var draining = await SendAsync<HostInfo>(HttpMethod.Post, $"v1/hosts/{Segment(host)}/drain", null, _connection.RequestTimeout, cancellationToken);
        string[] placed = [.. before.Vms.Union(draining.Vms, StringComparer.Ordinal)];
        var results = new DrainResult[placed.Length];
        var done = 0;
        var follower = new DrainFollower(this, host);
        await Parallel.ForEachAsync(Enumerable.Range(0, placed.Length), new ParallelOptions { MaxDegreeOfParallelism = FabricBulk.DefaultParallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var vm = placed[i];
            DrainResult result;
            try
            {
                result = await follower.FollowAsync(vm, earlier.GetValueOrDefault(vm), token);
            }
            catch (FabricException ex)
            {
                result = new DrainResult(vm, null, false, $"{ex.Code}: {ex.Message}");
            }

            results[i] = result;
            progress?.Report(new DrainProgress(placed.Length, Interlocked.Increment(ref done), result));
        });
        return [.. results];
    }

    private Task<MigrationInfo> WaitForMigrationChangeAsync(string name, long version, int waitSeconds, CancellationToken cancellationToken) =>
        SendAsync<MigrationInfo>(HttpMethod.Get, $"v1/vms/{Segment(name)}/migration?after={version}&wait={waitSeconds}", null, TimeSpan.FromSeconds(waitSeconds) + PollMargin, cancellationToken);

    /// <summary>The VM's last migration, or null when it never had one.</summary>
    private async Task<MigrationInfo?> LastMigrationAsync(string vm)
    {
        try
        {
            return await GetMigrationAsync(vm);
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Follows one host's drain VM by VM, sharing one look at the host among them per poll. The drain is over for a VM
    /// that has not begun to move once the host is no longer Draining and no VM of the drain has made progress for
    /// <see cref="DrainQuietPeriod"/>.
    /// </summary>
    private sealed class DrainFollower(FabricApiClient client, string host)
    {
        private readonly Lock _gate = new();
        private Task<HostInfo>? _look;
        private DateTimeOffset _lookedAt;
        private DateTimeOffset _progressAt = DateTimeOffset.UtcNow;

        /// <summary>What the drain did with <paramref name="vm"/>, whose last migration before it was <paramref name="earlier"/>.</summary>
        public async Task<DrainResult> FollowAsync(string vm, string? earlier, CancellationToken cancellationToken)
        {
            while (true)
            {
                // A migration of the drain's (or one already under way when it began, which moves the VM away too).
                var migration = await client.LastMigrationAsync(vm);
                if (migration is not null && (migration.Id != earlier || !migration.IsFinished))
                {
                    Progressed();
                    var end = migration.IsFinished ? migration : await client.WaitForMigrationAsync(vm, cancellationToken: cancellationToken);
                    Progressed();
                    return new DrainResult(vm, end, end.Phase == MigrationPhase.Succeeded, end.Reason);
                }

                VmInfo info;
                try
                {
                    info = await client.GetVmAsync(vm);
                }
                catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
                {
                    return new DrainResult(vm, null, false, "not moved: it was deleted during the drain");
                }

                if (info.Host != host)
                {
                    return new DrainResult(vm, null, true, null);
                }

                if (info.State is not (VmState.Running or VmState.Paused or VmState.Migrating))
                {
                    return new DrainResult(vm, null, false, $"not moved: it is {info.State} (only running or paused VMs are live-migrated)");
                }

                if ((await LookAsync()).State != HostState.Draining && QuietFor() >= DrainQuietPeriod)
                {
                    return new DrainResult(vm, null, false, "not moved: the drain ended without migrating it");
                }

                await Task.Delay(DrainPollInterval, cancellationToken);
            }
        }

        private void Progressed()
        {
            lock (_gate)
            {
                _progressAt = DateTimeOffset.UtcNow;
            }
        }

        private TimeSpan QuietFor()
        {
            lock (_gate)
            {
                return DateTimeOffset.UtcNow - _progressAt;
            }
        }

        /// <summary>The host as it was at most one poll interval ago.</summary>
        private Task<HostInfo> LookAsync()
        {
            lock (_gate)
            {
                if (_look is null || DateTimeOffset.UtcNow - _lookedAt >= DrainPollInterval || _look.IsFaulted)
                {
                    _look = client.GetHostAsync(host);
                    _lookedAt = DateTimeOffset.UtcNow;
                }

                return _look;
            }
        }
    }
}
