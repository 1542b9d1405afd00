using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text;
using Fabric.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Streams;

namespace Fabric.Client;

/// <summary>
/// The typed .NET API of a fabric: VMs and hosts, one at a time or by the fleet, consoles and events. Every failure is a
/// <see cref="FabricException"/> with a code from <see cref="ErrorCodes"/>; a fabric that cannot be reached is
/// <c>unavailable</c>.
/// </summary>
public sealed partial class FabricClient : IAsyncDisposable
{
    /// <summary>The most VMs one bulk operation works on at the same time.</summary>
    public const int DefaultParallelism = FabricBulk.DefaultParallelism;

    /// <summary>How long one long-poll for a migration's progress may wait.</summary>
    private static readonly TimeSpan MigrationPollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a follower of a migration waits for its coordinator to answer again (after its silo died).</summary>
    private static readonly TimeSpan MigrationPatience = TimeSpan.FromSeconds(60);

    private static readonly VmState[] Settled = [VmState.Stopped, VmState.Failed];
    private static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(15);
    private const int ConsoleChunkBytes = 64 * 1024;

    /// <summary>How long a call waits for a connection to some gateway before it fails with <c>unavailable</c>.</summary>
    private static readonly TimeSpan ReconnectPatience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReconnectRetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly IClusterClient _client;
    private readonly IHost? _host;

    /// <summary>Wraps an Orleans client the caller already runs (its program hosts it).</summary>
    public FabricClient(IClusterClient client)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
    }

    private FabricClient(IHost host)
    {
        _host = host;
        _client = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>Connects to the fabric described by <paramref name="connection"/>, or throws <c>unavailable</c>.</summary>
    public static async Task<FabricClient> ConnectAsync(FabricConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();

        // The client lives inside the caller's program: Ctrl-C and SIGTERM are the program's to handle, not this host's.
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = connection.ClusterId;
                o.ServiceId = connection.ServiceId;
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = connection.ResponseTimeout);
            if (connection.Redis is { } redis)
            {
                var options = FabricRedis.Options(redis, connection.RedisPasswordFile, connection.Tls?.LoadTrust());
                options.AbortOnConnectFail = false;
                client.UseRedisClustering(o => o.ConfigurationOptions = options);
            }
            else
            {
                client.UseLocalhostClustering(connection.GatewayPort);
            }

            if (connection.Tls is { } tls)
            {
                client.UseTls(tls.Configure);
            }

            client.AddMemoryStreams(FleetStreams.Provider);
        });

        var host = builder.Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connection.ConnectTimeout);
        var where = connection.Redis is null ? $"a development silo on gateway port {connection.GatewayPort}" : $"cluster '{connection.ClusterId}' through Redis {connection.Redis}";
        try
        {
            await host.StartAsync(timeout.Token);
            return new FabricClient(host);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw FabricException.Unavailable($"cannot reach the fabric ({where}) within {connection.ConnectTimeout.TotalSeconds:0} s");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            host.Dispose();
            throw FabricException.Unavailable($"cannot reach the fabric ({where}): {ex.Message}");
        }
    }

    /// <summary>The Orleans client underneath, for programs that need cluster-level tools (management, diagnostics).</summary>
    public IClusterClient ClusterClient => _client;

    // ---------------------------------------------------------------- VMs

    /// <summary>Creates (validates, places and reserves) a VM from <paramref name="spec"/>.</summary>
    public Task<VmInfo> CreateVmAsync(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Call(() => Vm(Names.Require("name", spec.Name)).Create(spec));
    }

    /// <summary>
    /// Creates <paramref name="count"/> VMs from one spec, named <c>&lt;spec.Name&gt;-&lt;n&gt;</c> (n zero-padded,
    /// from 1), in parallel; each VM's outcome is reported on its own.
    /// </summary>
    public Task<ImmutableArray<BulkResult>> CreateVmsAsync(VmSpec spec, int count, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = FabricBulk.BulkNames(spec.Name, count);
        return RunBulkAsync(names, async name => (VmInfo?)await CreateVmAsync(spec with { Name = name }), progress, cancellationToken);
    }

    /// <summary>The names a bulk create of <paramref name="count"/> VMs with <paramref name="prefix"/> makes.</summary>
    public static IReadOnlyList<string> BulkNames(string prefix, int count) => FabricBulk.BulkNames(prefix, count);

    /// <summary>Starts a VM; returns once its process runs.</summary>
    public Task<VmInfo> StartVmAsync(string name) => Call(() => Vm(name).Start());

    /// <summary>Stops a VM and, when <paramref name="wait"/>, waits until its process is gone (Stopped or Failed).</summary>
    public async Task<VmInfo> StopVmAsync(string name, StopOptions? options = null, bool wait = true, CancellationToken cancellationToken = default)
    {
        options ??= StopOptions.Graceful;
        var info = await Call(() => Vm(name).Stop(options));
        return wait && !Settled.Contains(info.State)
            ? await WaitForVmAsync(name, Settled, options.GracePeriod + StopMargin, cancellationToken)
            : info;
    }

    public Task<VmInfo> PauseVmAsync(string name) => Call(() => Vm(name).Pause());

    public Task<VmInfo> ResumeVmAsync(string name) => Call(() => Vm(name).Resume());

    public Task<VmInfo> RebootVmAsync(string name) => Call(() => Vm(name).Reboot());

    /// <summary>Deletes a VM that is not running.</summary>
    public Task DeleteVmAsync(string name) => DeleteVmAsync(name, DeleteOptions.Normal);

    /// <summary>Deletes a VM; with <see cref="DeleteOptions.Force"/> whatever its state, even while its host is Down.</summary>
    public Task DeleteVmAsync(string name, DeleteOptions options) => Call(async () =>
    {
        await Vm(name).Delete(options ?? DeleteOptions.Normal);
        return true;
    });

    public Task<VmInfo> GetVmAsync(string name) => Call(() => Vm(name).Get());

    /// <summary>VMs whose labels match <paramref name="selector"/> (all when null), by name.</summary>
    public Task<ImmutableArray<VmInfo>> ListVmsAsync(LabelSelector? selector = null) =>
        Call(() => _client.GetGrain<IVmDirectoryGrain>(0).List(selector ?? LabelSelector.Everything));

    /// <summary>Waits until the VM is in one of <paramref name="states"/>; returns it as it is when <paramref name="timeout"/> passes.</summary>
    public async Task<VmInfo> WaitForVmAsync(string name, IReadOnlyCollection<VmState> states, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(states);
        var wanted = states.ToArray();
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var left = deadline - DateTimeOffset.UtcNow;
            var info = await Call(() => Vm(name).WaitFor(wanted, left > TimeSpan.Zero ? left : TimeSpan.Zero));
            if (wanted.Contains(info.State) || DateTimeOffset.UtcNow >= deadline)
            {
                return info;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on every VM in <paramref name="names"/>, <see cref="DefaultParallelism"/> at a time,
    /// reporting progress; one VM's failure never stops the others.
    /// </summary>
    public static Task<ImmutableArray<BulkResult>> RunBulkAsync(IReadOnlyList<string> names, Func<string, Task<VmInfo?>> operation, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default) =>
        FabricBulk.RunBulkAsync(names, operation, progress, cancellationToken);

    /// <summary>Runs a lifecycle action on every VM matching <paramref name="selector"/>.</summary>
    public async Task<ImmutableArray<BulkResult>> RunBulkAsync(LabelSelector selector, VmAction action, IProgress<BulkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var vms = await ListVmsAsync(selector);
        return await RunBulkAsync([.. vms.Select(v => v.Name)], name => ActAsync(name, action, cancellationToken), progress, cancellationToken);
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

    private async Task<VmInfo?> DeleteAndForgetAsync(string name)
    {
        await DeleteVmAsync(name);
        return null;
    }

    /// <summary>
    /// The VM's console log from <paramref name="offset"/> (at most <paramref name="maxBytes"/>), waiting up to
    /// <paramref name="wait"/> for output past it: one long-poll of <see cref="ConsoleAsync"/>.
    /// </summary>
    public Task<ConsoleChunk> ReadConsoleAsync(string name, long offset, int maxBytes, TimeSpan wait) =>
        Call(() => Vm(name).ReadConsole(offset, Math.Clamp(maxBytes, 1, ConsoleChunkBytes), wait));

    /// <summary>
    /// The VM's serial console, line by line: what it printed so far, then (with <paramref name="follow"/>) new lines as
    /// they come, until cancelled.
    /// </summary>
    public async IAsyncEnumerable<string> ConsoleAsync(string name, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var vm = Vm(name);
        var offset = 0L;
        var pending = new StringBuilder();
        var decoder = new UTF8Encoding(false).GetDecoder();
        while (!cancellationToken.IsCancellationRequested)
        {
            var chunk = await Call(() => vm.ReadConsole(offset, ConsoleChunkBytes, follow ? TimeSpan.FromSeconds(5) : TimeSpan.Zero));
            if (chunk.Offset < offset)
            {
                pending.Clear(); // A new process started a new log.
            }

            offset = chunk.NextOffset;
            var chars = new char[decoder.GetCharCount(chunk.Data, flush: false)];
            decoder.GetChars(chunk.Data, chars, flush: false);
            pending.Append(chars);
            foreach (var line in TakeLines(pending))
            {
                yield return line;
            }

            if (chunk.Data.Length == 0 && !follow)
            {
                break;
            }
        }

        if (pending.Length > 0 && !follow)
        {
            yield return pending.ToString();
        }
    }

    /// <summary>Types <paramref name="line"/> and a newline into the VM's serial console.</summary>
    public Task SendConsoleAsync(string name, string line) => Call(async () =>
    {
        await Vm(name).SendConsole(line + "\n");
        return true;
    });

    /// <summary>
    /// Subscribes to fleet events (VM placements, state changes, deletions, host state changes): every event published
    /// after this returns is delivered to the returned watch, until it is disposed.
    /// </summary>
    public async Task<FleetWatch> SubscribeAsync()
    {
        var stream = _client.GetStreamProvider(FleetStreams.Provider)
            .GetStream<FleetEvent>(StreamId.Create(FleetStreams.Namespace, FleetStreams.Key));
        var watch = new FleetWatch();
        watch.Subscription = await Call(() => stream.SubscribeAsync((fleetEvent, _) => watch.Deliver(fleetEvent)));
        return watch;
    }

    /// <summary>Fleet events from now on, until cancelled (<see cref="SubscribeAsync"/> for a program that must know when it is subscribed).</summary>
    public async IAsyncEnumerable<FleetEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var watch = await SubscribeAsync();
        await foreach (var fleetEvent in watch.WithCancellation(cancellationToken))
        {
            yield return fleetEvent;
        }
    }

    // ---------------------------------------------------------------- migration

    /// <summary>Starts a live migration of the VM; returns at once with the migration in its first phase.</summary>
    public Task<MigrationInfo> MigrateVmAsync(string name, MigrationRequest request) =>
        Call(() => Migration(name).Start(request));

    /// <summary>Cancels the VM's migration under way (<c>conflict</c> once it has switched over).</summary>
    public Task<MigrationInfo> CancelMigrationAsync(string name) => Call(() => Migration(name).Cancel());

    /// <summary>The VM's migration under way, else its last one.</summary>
    public Task<MigrationInfo> GetMigrationAsync(string name) => Call(() => Migration(name).Get());

    /// <summary>The VM's migration once it has moved past <paramref name="version"/> (or after a second).</summary>
    public Task<MigrationInfo> WaitForMigrationChangeAsync(string name, long version) => WaitForMigrationChangeAsync(name, version, MigrationPollInterval);

    /// <summary>The VM's migration once its version passes <paramref name="version"/>, or as it is after <paramref name="timeout"/>.</summary>
    public Task<MigrationInfo> WaitForMigrationChangeAsync(string name, long version, TimeSpan timeout) =>
        Call(() => Migration(name).WaitForChange(version, timeout));

    /// <summary>Follows the VM's migration to its end, reporting every change to <paramref name="progress"/>.</summary>
    public async Task<MigrationInfo> WaitForMigrationAsync(string name, IProgress<MigrationInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        MigrationInfo? info = null;
        var unreachableSince = (DateTime?)null;
        while (info is not { IsFinished: true })
        {
            cancellationToken.ThrowIfCancellationRequested();
            var version = info?.Version;
            try
            {
                info = await Call(() => version is { } known ? Migration(name).WaitForChange(known, MigrationPollInterval) : Migration(name).Get()).WaitAsync(cancellationToken);
                unreachableSince = null;
            }
            catch (FabricException ex) when (ex.Code == ErrorCodes.Unavailable && DateTime.UtcNow - (unreachableSince ??= DateTime.UtcNow) < MigrationPatience)
            {
                // The coordinator's silo died: it comes back on another silo (its state is persisted); ask again.
                await Task.Delay(ReconnectRetryDelay, cancellationToken);
                continue;
            }

            progress?.Report(info);
        }

        return info;
    }

    /// <summary>
    /// Drains a host: cordons it, then live-migrates each of its running or paused VMs away through the scheduler
    /// (per-host migration limits queue them), and waits for every migration to end. A VM that cannot move is
    /// reported and left where it runs; the host stays cordoned (<see cref="UncordonHostAsync"/> returns it).
    /// </summary>
    public async Task<ImmutableArray<DrainResult>> DrainHostAsync(string host, IProgress<DrainProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        await CordonHostAsync(host);
        var placed = (await GetHostAsync(host)).Vms;
        var results = new DrainResult[placed.Length];
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, placed.Length), new ParallelOptions { MaxDegreeOfParallelism = DefaultParallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var vm = placed[i];
            DrainResult result;
            try
            {
                var info = await GetVmAsync(vm);
                if (info.State is not (VmState.Running or VmState.Paused or VmState.Migrating))
                {
                    result = new DrainResult(vm, null, false, $"not moved: it is {info.State} (only running or paused VMs are live-migrated)");
                }
                else
                {
                    if (info.State != VmState.Migrating)
                    {
                        await MigrateVmAsync(vm, new MigrationRequest());
                    }

                    var end = await WaitForMigrationAsync(vm, cancellationToken: token);
                    result = new DrainResult(vm, end, end.Phase == MigrationPhase.Succeeded, end.Reason);
                }
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

    /// <summary>
    /// Copies guest-physical memory of the VM's running process into a file on its host and returns the file's path on
    /// that host (a diagnostic: tests on the same machine read it to check a guest's memory page by page).
    /// </summary>
    public Task<string> DumpGuestMemoryAsync(string name, long address, long length) => Call(async () =>
    {
        var vm = await Vm(name).Get();
        var assignment = new VmAssignment(vm.Name, vm.Host, vm.Epoch, vm.InstanceId ?? Guid.Empty);
        return await _client.GetGrain<IHostGrain>(vm.Host).DumpGuestMemory(assignment, address, length);
    });

    // ---------------------------------------------------------------- hosts

    /// <summary>Every host the fabric knows, Down ones included.</summary>
    public Task<ImmutableArray<HostInfo>> ListHostsAsync() => Call(() => Scheduler.ListHosts());

    /// <summary>One host with its VMs (from the host itself while it is up; its last known summary when Down).</summary>
    public async Task<HostInfo> GetHostAsync(string name)
    {
        Names.Require("host", name);
        var known = await Call(() => Scheduler.GetHost(name)) ?? throw FabricException.NotFound("host", name);
        if (known.State == HostState.Down)
        {
            return known;
        }

        var live = await Call(() => _client.GetGrain<IHostGrain>(name).GetInfo());
        return live with { Silo = known.Silo };
    }

    public Task<HostInfo> CordonHostAsync(string name) => HostCall(name, h => h.Cordon());

    public Task<HostInfo> UncordonHostAsync(string name) => HostCall(name, h => h.Uncordon());

    /// <summary>
    /// Forgets a Down host (machine binding, settings, ledger, inventory) so that another machine may serve its id;
    /// <c>conflict</c> while it is up or has VMs placed on it.
    /// </summary>
    public Task ForgetHostAsync(string name) => Call(async () =>
    {
        await Scheduler.Forget(Names.Require("host", name));
        return true;
    });

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync(TimeSpan.FromSeconds(5));
            }
            finally
            {
                _host.Dispose();
            }
        }
    }

    private ISchedulerGrain Scheduler => _client.GetGrain<ISchedulerGrain>(ISchedulerGrain.Key);

    private IVmGrain Vm(string name) => _client.GetGrain<IVmGrain>(Names.Require("name", name));

    private IMigrationGrain Migration(string name) => _client.GetGrain<IMigrationGrain>(Names.Require("name", name));

    private async Task<HostInfo> HostCall(string name, Func<IHostGrain, Task<HostInfo>> call)
    {
        Names.Require("host", name);
        _ = await Call(() => Scheduler.GetHost(name)) ?? throw FabricException.NotFound("host", name);
        return await Call(() => call(_client.GetGrain<IHostGrain>(name)));
    }

    private static List<string> TakeLines(StringBuilder pending)
    {
        var text = pending.ToString();
        var start = 0;
        int newline;
        var lines = new List<string>();
        while ((newline = text.IndexOf('\n', start)) >= 0)
        {
            lines.Add(text[start..newline].TrimEnd('\r'));
            start = newline + 1;
        }

        pending.Remove(0, start);
        return lines;
    }

    /// <summary>
    /// A failure to connect, or a message the runtime rejected (its silo gone, say): either way no grain processed the
    /// call, so it may be sent again.
    /// </summary>
    private static bool NeverSent(Exception ex) =>
        ex is Orleans.Runtime.Messaging.ConnectionFailedException or OrleansMessageRejectionException;

    /// <summary>Runs a call, turning transport failures into <c>unavailable</c>.</summary>
    private static async Task<T> Call<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + ReconnectPatience;
        while (true)
        {
            try
            {
                return await call();
            }
            catch (FabricException)
            {
                throw;
            }
            catch (Exception ex) when (NeverSent(ex) && DateTime.UtcNow < deadline)
            {
                // No connection to a gateway (one restarting or just killed, say): the call was never sent, so sending it
                // again is safe.
                await Task.Delay(ReconnectRetryDelay);
            }
            catch (Exception ex) when (ex is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or OrleansException)
            {
                throw FabricException.Unavailable($"the fabric did not answer: {ex.Message}");
            }
        }
    }

    /// <summary>A host lifetime that leaves process signals to the program hosting the client.</summary>
    private sealed class CallerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
