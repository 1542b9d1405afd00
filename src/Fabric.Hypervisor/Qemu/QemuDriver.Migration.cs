using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>Live migration with QEMU's pre-copy and post-copy over TCP (see <see cref="ILiveMigration"/>).</summary>
public sealed partial class QemuDriver : ILiveMigration
{
    private static readonly TimeSpan CancelPoll = TimeSpan.FromMilliseconds(20);

    public async Task<string> ListenAsync(string vm, string address, MigrationFeatures features, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (!IPAddress.TryParse(address, out var ip))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"address '{address}' is not an IP address");
        }

        if (features.Postcopy && Linux.Userfaultfd.UnavailableReason() is { } why)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, why);
        }

        var qemu = Require(vm);
        await SetCapabilitiesAsync(qemu, features, autoConverge: false, pauseBeforeSwitchover: false, cancellationToken).ConfigureAwait(false);
        var credentials = await StreamCredentialsAsync(qemu, vm, server: true, cancellationToken).ConfigureAwait(false);
        await qemu.CommandAsync("migrate-set-parameters", new JsonObject { ["tls-creds"] = credentials }, cancellationToken).ConfigureAwait(false);
        var host = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
        await qemu.CommandAsync("migrate-incoming", new JsonObject { ["uri"] = $"tcp:{host}:0" }, cancellationToken).ConfigureAwait(false);

        // Port 0 lets the kernel choose a free port; QEMU reports the one it bound.
        var info = await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
        if (info.TryGetProperty("socket-address", out var sockets) && sockets.ValueKind == JsonValueKind.Array)
        {
            foreach (var socket in sockets.EnumerateArray())
            {
                if (socket.TryGetProperty("port", out var port))
                {
                    return $"tcp:{host}:{port.GetString()}";
                }
            }
        }

        throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': QEMU listens for the migration but did not say on which port");
    }

    public async Task SendAsync(string vm, string uri, MigrationSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!uri.StartsWith("tcp:", StringComparison.Ordinal))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"uri '{uri}' is not a tcp: migration address");
        }

        var qemu = Require(vm);

        // Disks mirrored to the target (QemuDriver.Mirror.cs) must all be in sync, and the migration then stops before
        // its switch-over so that their jobs end before the source's disks are inactivated.
        var mirrored = await EnsureMirrorsReadyAsync(qemu, cancellationToken).ConfigureAwait(false);
        await SetCapabilitiesAsync(qemu, settings.Features, settings.AutoConverge, pauseBeforeSwitchover: mirrored, cancellationToken).ConfigureAwait(false);
        var parameters = new JsonObject
        {
            // QEMU's own default is 300 ms; an explicit value makes a repeated migration of the same process start clean.
            ["downtime-limit"] = (long)(settings.DowntimeLimit ?? TimeSpan.FromMilliseconds(300)).TotalMilliseconds,

            // 0 would mean "QEMU's default" (32 MiB/s) in 7.2, not "unlimited": ask for a very large cap instead.
            ["max-bandwidth"] = settings.BandwidthBytesPerSecond ?? (1L << 40),

            // Always set, so a process that once migrated with TLS never silently reuses (or drops) it. The client
            // checks the target's certificate against the address it dials (QEMU's default tls-hostname).
            ["tls-creds"] = await StreamCredentialsAsync(qemu, vm, server: false, cancellationToken).ConfigureAwait(false),
        };
        await qemu.CommandAsync("migrate-set-parameters", parameters, cancellationToken).ConfigureAwait(false);
        await qemu.CommandAsync("migrate", new JsonObject { ["uri"] = uri }, cancellationToken).ConfigureAwait(false);
        LogMigrationSent(vm, uri, settings.AutoConverge, settings.Features.Postcopy);
    }

    /// <summary>
    /// The id of the VM's TLS credentials for one end of a stream to another host, or "" (no TLS) when the host has no
    /// certificate (<see cref="QemuDriverOptions.StreamTls"/>).
    /// </summary>
    private async Task<string> StreamCredentialsAsync(QemuVm qemu, string vm, bool server, CancellationToken cancellationToken) =>
        _options.StreamTls is { } files
            ? await StreamTls.CreateAsync(qemu, files, Path.Combine(VmPaths.For(_options.DataDirectory, vm).Directory, "tls"), server, StreamCredentialsToVm(vm), cancellationToken).ConfigureAwait(false)
            : "";

    /// <summary>
    /// Hands a credentials file (0600) or their directory (0700) the driver wrote to the VM's own uid, the only user that
    /// may read them: QEMU runs unprivileged (docs/confinement.md).
    /// </summary>
    private Action<string> StreamCredentialsToVm(string vm) => path =>
        GiveToVm(vm, path, Directory.Exists(path) ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : UnixFileMode.UserRead | UnixFileMode.UserWrite);

    public async Task<MigrationProgress> QueryAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        var info = await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false);
        var status = await qemu.CommandAsync("query-status", null, cancellationToken).ConfigureAwait(false);
        var parameters = await qemu.CommandAsync("query-migrate-parameters", null, cancellationToken).ConfigureAwait(false);
        var ram = info.TryGetProperty("ram", out var r) ? r : default;
        var pageSize = Long(ram, "page-size") ?? 4096;
        return new MigrationProgress
        {
            Status = String(info, "status") ?? "none",
            RunState = String(status, "status") ?? "unknown",
            TransferredBytes = Long(ram, "transferred") ?? 0,
            TlsCredentials = String(parameters, "tls-creds") ?? "",
            RemainingBytes = Long(ram, "remaining") ?? 0,
            TotalBytes = Long(ram, "total") ?? 0,
            DirtyBytesPerSecond = (Long(ram, "dirty-pages-rate") ?? 0) * pageSize,
            BytesPerSecond = ram.ValueKind == JsonValueKind.Object && ram.TryGetProperty("mbps", out var mbps) && mbps.ValueKind == JsonValueKind.Number
                ? (long)(mbps.GetDouble() * 1_000_000 / 8)
                : 0,
            Passes = Long(ram, "dirty-sync-count") ?? 0,
            ThrottlePercent = (int)(Long(info, "cpu-throttle-percentage") ?? 0),
            TotalMs = Long(info, "total-time"),
            DowntimeMs = Long(info, "downtime"),
            SetupMs = Long(info, "setup-time"),
            Error = String(info, "error-desc"),
            StoppedAt = qemu.StoppedAt,
            ResumedAt = qemu.ResumedAt,
        };
    }

    public async Task<MigrationProgress> CancelAsync(string vm, bool resume, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        await qemu.CommandAsync("migrate_cancel", null, cancellationToken).ConfigureAwait(false);

        // Cancelling is asynchronous in QEMU: the stream is torn down, then the status reads cancelled (or completed,
        // when the cancel came too late; the caller's epoch still decides which side is the VM's).
        var progress = await QueryAsync(vm, cancellationToken).ConfigureAwait(false);
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.QmpTimeout.TotalSeconds * Stopwatch.Frequency);
        while (progress.Status is "cancelling" or "active" or "setup" or "device" or "pre-switchover" && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(CancelPoll, cancellationToken).ConfigureAwait(false);
            progress = await QueryAsync(vm, cancellationToken).ConfigureAwait(false);
        }

        if (resume && progress.RunState is "paused" or "postmigrate" or "finish-migrate")
        {
            await qemu.ExecuteAsync("cont", ProcessPower.Running, cancellationToken).ConfigureAwait(false);
        }
        else if (!resume && progress.RunState == "postmigrate")
        {
            await LeavePostmigrateAsync(qemu, cancellationToken).ConfigureAwait(false);
        }

        LogMigrationCancelled(vm, progress.Status, resume);
        return await QueryAsync(vm, cancellationToken).ConfigureAwait(false);
    }

    public Task StartPostcopyAsync(string vm, CancellationToken cancellationToken) =>
        Require(vm).CommandAsync("migrate-start-postcopy", null, cancellationToken);

    private static Task<JsonElement> SetCapabilitiesAsync(QemuVm qemu, MigrationFeatures features, bool autoConverge, bool pauseBeforeSwitchover, CancellationToken cancellationToken)
    {
        var capabilities = new JsonArray
        {
            // The target refuses a stream from another instance: the fabric migrates one instance, never a stranger.
            Capability("validate-uuid", true),
            Capability("postcopy-ram", features.Postcopy),
            Capability("auto-converge", autoConverge),
            Capability("pause-before-switchover", pauseBeforeSwitchover),

            // A snapshot turns this on for its stream (QemuDriver.Snapshots.cs); it refuses validate-uuid.
            Capability("background-snapshot", false),
        };
        return qemu.CommandAsync("migrate-set-capabilities", new JsonObject { ["capabilities"] = capabilities }, cancellationToken);
    }

    private static JsonObject Capability(string name, bool state) => new() { ["capability"] = name, ["state"] = state };

    private static string? String(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Long(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number
            ? (long)value.GetDouble()
            : null;

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "VM {Vm}: migration sent to {Uri} (auto-converge {AutoConverge}, post-copy allowed {Postcopy})")]
    private partial void LogMigrationSent(string vm, string uri, bool autoConverge, bool postcopy);

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "VM {Vm}: outgoing migration cancelled (it was {Status}; guest resumed: {Resumed})")]
    private partial void LogMigrationCancelled(string vm, string status, bool resumed);
}
