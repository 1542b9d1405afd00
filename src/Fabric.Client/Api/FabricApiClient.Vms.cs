using System.Collections.Immutable;
using System.Globalization;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>VMs: create, lifecycle, get, list and wait (<c>/v1/vms</c>).</summary>
public sealed partial class FabricApiClient
{
    private static readonly VmState[] Settled = [VmState.Stopped, VmState.Failed];
    private static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(15);

    /// <summary>The longest one long poll for a VM's state asks the server to wait (its own limit).</summary>
    private static readonly TimeSpan MaxVmWait = TimeSpan.FromSeconds(300);

    /// <summary>Creates (validates, places and reserves) a VM from <paramref name="spec"/>.</summary>
    public Task<VmInfo> CreateVmAsync(VmSpec spec) => CreateVmAsync(spec, CancellationToken.None);

    /// <summary>Creates (validates, places and reserves) a VM from <paramref name="spec"/>.</summary>
    public Task<VmInfo> CreateVmAsync(VmSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return PostAsync<VmInfo>("v1/vms", spec, cancellationToken);
    }

    /// <summary>
    /// Creates <paramref name="count"/> VMs from one spec, named <c>&lt;spec.Name&gt;-&lt;n&gt;</c> (n zero-padded,
    /// from 1), by parallel requests; each VM's outcome is reported on its own.
    /// </summary>
    public Task<ImmutableArray<BulkResult>> CreateVmsAsync(VmSpec spec, int count, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = FabricBulk.BulkNames(spec.Name, count);
        return FabricBulk.RunBulkAsync(names, async name => (VmInfo?)await CreateVmAsync(spec with { Name = name }, cancellationToken), progress, cancellationToken);
    }

    /// <summary>Starts a VM; returns once its process runs.</summary>
    public Task<VmInfo> StartVmAsync(string name) => PostAsync<VmInfo>($"v1/vms/{Segment(name)}/start", null, CancellationToken.None);

    /// <summary>Stops a VM and, when <paramref name="wait"/>, waits until its process is gone (Stopped or Failed).</summary>
    public async Task<VmInfo> StopVmAsync(string name, StopOptions? options = null, bool wait = true, CancellationToken cancellationToken = default)
    {
        options ??= StopOptions.Graceful;
        var query = $"?force={Flag(options.Force)}&wait={Flag(wait)}";
        if (options.GracePeriod != StopOptions.DefaultGracePeriod)
        {
            query += $"&grace={options.GracePeriod.TotalSeconds.ToString(CultureInfo.InvariantCulture)}";
        }

        var timeout = _connection.RequestTimeout + (wait ? options.GracePeriod + StopMargin : TimeSpan.Zero);
        var info = await SendAsync<VmInfo>(HttpMethod.Post, $"v1/vms/{Segment(name)}/stop{query}", null, timeout, cancellationToken);
        return wait && !Settled.Contains(info.State)
            ? await WaitForVmAsync(name, Settled, options.GracePeriod + StopMargin, cancellationToken)
            : info;
    }

    public Task<VmInfo> PauseVmAsync(string name) => PostAsync<VmInfo>($"v1/vms/{Segment(name)}/pause", null, CancellationToken.None);

    public Task<VmInfo> ResumeVmAsync(string name) => PostAsync<VmInfo>($"v1/vms/{Segment(name)}/resume", null, CancellationToken.None);

    public Task<VmInfo> RebootVmAsync(string name) => PostAsync<VmInfo>($"v1/vms/{Segment(name)}/reboot", null, CancellationToken.None);

    /// <summary>Deletes a VM that is not running.</summary>
    public Task DeleteVmAsync(string name) => DeleteVmAsync(name, DeleteOptions.Normal);

    /// <summary>Deletes a VM; with <see cref="DeleteOptions.Force"/> whatever its state, even while its host is Down.</summary>
    public Task DeleteVmAsync(string name, DeleteOptions options) =>
        SendAsync(HttpMethod.Delete, $"v1/vms/{Segment(name)}{((options ?? DeleteOptions.Normal).Force ? "?force=true" : "")}", null, CancellationToken.None);

    public Task<VmInfo> GetVmAsync(string name) => GetAsync<VmInfo>($"v1/vms/{Segment(name)}", CancellationToken.None);

    /// <summary>VMs whose labels match <paramref name="selector"/> (all when null) in the caller's projects, by name.</summary>
    public Task<ImmutableArray<VmInfo>> ListVmsAsync(LabelSelector? selector = null) =>
        ListAsync<VmInfo>(selector is null || selector.IsEmpty ? "v1/vms" : $"v1/vms?selector={Query(selector.ToString())}", CancellationToken.None);

    /// <summary>
    /// Waits until the VM is in one of <paramref name="states"/>; returns it as it is when <paramref name="timeout"/>
    /// passes. Each request is a long poll the server answers as soon as the VM gets there.
    /// </summary>
    public async Task<VmInfo> WaitForVmAsync(string name, IReadOnlyCollection<VmState> states, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(states);
        var wanted = states.ToArray();
        var list = Query(string.Join(',', wanted.Select(s => s.ToString())));
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var left = deadline - DateTimeOffset.UtcNow;
            var wait = left <= TimeSpan.Zero ? TimeSpan.Zero : left < MaxVmWait ? left : MaxVmWait;
            var seconds = (long)Math.Ceiling(wait.TotalSeconds);
            var info = await SendAsync<VmInfo>(HttpMethod.Get, $"v1/vms/{Segment(name)}?state={list}&wait={seconds}", null, TimeSpan.FromSeconds(seconds) + PollMargin, cancellationToken);
            if (wanted.Contains(info.State) || DateTimeOffset.UtcNow >= deadline)
            {
                return info;
            }
        }
    }

    /// <summary>Runs a lifecycle action on every VM matching <paramref name="selector"/>.</summary>
    public async Task<ImmutableArray<BulkResult>> RunBulkAsync(LabelSelector selector, VmAction action, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var vms = await ListVmsAsync(selector);
        return await FabricBulk.RunBulkAsync([.. vms.Select(v => v.Name)], name => ActAsync(name, action, cancellationToken), progress, cancellationToken);
    }

    /// <summary>Runs one lifecycle action on one VM (delete returns null).</summary>
    public async Task<VmInfo?> ActAsync(string name, VmAction action, CancellationToken cancellationToken = default) => action switch
    {
        VmAction.Start => await StartVmAsync(name),
        VmAction.Stop => await StopVmAsync(name, cancellationToken: cancellationToken),
        VmAction.Pause => await PauseVmAsync(name),
        VmAction.Resume => await ResumeVmAsync(name),
        VmAction.Reboot => await RebootVmAsync(name),
        VmAction.Delete => await DeleteAndForgetAsync(name),
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    // ---------------------------------------------------------------- snapshots

    /// <summary>
    /// Takes a snapshot of a Running or Paused VM while its guest keeps running; returns once the snapshot's file is
    /// complete, with the guest pause it caused, its size and how long it took.
    /// </summary>
    public Task<SnapshotInfo> CreateSnapshotAsync(string vm, string snapshot) =>
        SendAsync<SnapshotInfo>(HttpMethod.Post, $"v1/vms/{Segment(vm)}/snapshots", new NameBody(snapshot), LongOperationTimeout, CancellationToken.None);

    /// <summary>The VM's snapshots, oldest first.</summary>
    public Task<ImmutableArray<SnapshotInfo>> ListSnapshotsAsync(string vm) =>
        ListAsync<SnapshotInfo>($"v1/vms/{Segment(vm)}/snapshots", CancellationToken.None);

    /// <summary>
    /// Returns the VM to the moment of the snapshot, as a new instance on the host that holds it: Running if the guest
    /// ran when it was taken, else Paused.
    /// </summary>
    public Task<VmInfo> RestoreSnapshotAsync(string vm, string snapshot) =>
        SendAsync<VmInfo>(HttpMethod.Post, $"v1/vms/{Segment(vm)}/snapshots/{Segment(snapshot)}/restore", null, LongOperationTimeout, CancellationToken.None);

    /// <summary>Deletes the snapshot's file on its host and forgets it.</summary>
    public Task DeleteSnapshotAsync(string vm, string snapshot) =>
        SendAsync(HttpMethod.Delete, $"v1/vms/{Segment(vm)}/snapshots/{Segment(snapshot)}", null, CancellationToken.None);

    private async Task<VmInfo?> DeleteAndForgetAsync(string name)
    {
        await DeleteVmAsync(name);
        return null;
    }

    private static string Flag(bool value) => value ? "true" : "false";

    /// <summary>The body of a request that names one thing: <c>{"name": …}</c>.</summary>
    internal sealed record NameBody(string Name);
}
