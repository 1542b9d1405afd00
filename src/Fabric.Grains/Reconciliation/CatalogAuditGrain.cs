using Fabric.Contracts;
using Fabric.Grains.Hosting;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Grains.Reconciliation;

/// <summary>The fleet's catalog auditor (one activation, key <see cref="Key"/>); internal to the silos.</summary>
[Alias("fabric.ICatalogAuditGrain"), HostInternal]
public interface ICatalogAuditGrain : IGrainWithStringKey
{
    public const string Key = "fabric";

    /// <summary>Makes sure the auditor runs (every host agent pings it once its host serves).</summary>
    [Alias("Ping")]
    Task Ping();

    /// <summary>Runs one pass now; returns how many VMs were asked to repair their row (for tests and logs).</summary>
    [Alias("AuditNow")]
    Task<int> AuditNow();
}

/// <summary>
/// Compares the VM catalog (an index the VM grains keep) with the hosts' ledgers, periodically and whenever a host
/// starts serving: a row whose VM holds no matching ledger entry, and a ledger entry with no row, make that VM grain
/// check its row (<see cref="IVmGrain.Audit"/>) — it rewrites a missing or stale row, and removes a row whose VM no
/// longer exists. Orphan ledger entries themselves are the hosts' digest's business (their VM grains fence them).
/// </summary>
[KeepAlive]
internal sealed partial class CatalogAuditGrain(
    IVmCatalog catalog,
    IReservationLedger ledger,
    IOptions<ReconcileOptions> reconcile,
    ILogger<CatalogAuditGrain> logger) : Grain, ICatalogAuditGrain
{
    /// <summary>A host that just started serving is audited soon after, not at once: its VMs settle first.</summary>
    private static readonly TimeSpan FirstPassDelay = TimeSpan.FromSeconds(5);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(AuditAsync, FirstPassDelay, reconcile.Value.AuditInterval);
        return Task.CompletedTask;
    }

    Task ICatalogAuditGrain.Ping() => Task.CompletedTask;

    Task<int> ICatalogAuditGrain.AuditNow() => AuditPassAsync();

    private async Task AuditAsync(CancellationToken cancellationToken)
    {
        try
        {
            await AuditPassAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogAuditFailed(ex.Message);
        }
    }

    private async Task<int> AuditPassAsync()
    {
        var rows = await catalog.ListAsync(LabelSelector.Everything);
        var hosts = await GrainFactory.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key).ListHosts();
        var entries = new Dictionary<string, LedgerEntry>(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            foreach (var entry in await ledger.LoadAsync(host.Name))
            {
                if (entry.Fenced is null)
                {
                    entries[$"{host.Name}/{entry.Vm}"] = entry;
                }
            }
        }

        var suspects = new HashSet<string>(StringComparer.Ordinal);
        var rowKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var key = $"{row.Host}/{row.Name}";
            rowKeys.Add(key);
            if (!entries.TryGetValue(key, out var entry) || entry.Epoch != row.Epoch)
            {
                suspects.Add(row.Name);
            }
        }

        foreach (var (key, entry) in entries)
        {
            if (!rowKeys.Contains(key))
            {
                suspects.Add(entry.Vm);
            }
        }

        foreach (var vm in suspects)
        {
            GrainFactory.GetGrain<IVmGrain>(vm).Audit().Ignore();
        }

        if (suspects.Count > 0)
        {
            LogSuspects(suspects.Count, rows.Length, entries.Count);
        }

        return suspects.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalog audit: {Suspects} VMs asked to repair their row ({Rows} rows, {Entries} ledger entries)")]
    private partial void LogSuspects(int suspects, int rows, int entries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Catalog audit failed: {Error}")]
    private partial void LogAuditFailed(string error);
}
