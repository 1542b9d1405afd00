using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fabric.Hypervisor.Qmp;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Block migration of local disks over NBD, the way libvirt does it (see <see cref="IDiskMirror"/>): the target's
/// incoming process serves its empty disks with QEMU's NBD server; the source mirrors each disk into them with
/// <c>blockdev-mirror</c> through an NBD client node; <see cref="SendAsync"/> lets the memory go only once every disk is
/// in sync, and stops the migration before its switch-over, where <see cref="EndMirrorAsync"/> ends the jobs and lets
/// it go on. Every piece of state lives in QEMU under fixed names (NBD export and source format node
/// <c>disk&lt;slot&gt;</c>; NBD client node and job <c>mirror&lt;slot&gt;</c>), so a driver that re-attached after a
/// silo restart queries and ends a mirror exactly as the one that started it.
/// </summary>
/// <remarks>
/// Why the pieces are what they are (QEMU 7.2, each checked on the installed binary):
/// <list type="bullet">
/// <item><c>block-export-add</c> (7.2 still has the older <c>nbd-server-add</c>, deprecated) activates the target's
/// node although the process is in <c>inmigrate</c>, so the export is writable before the memory stream has begun; the
/// incoming migration's own activation at its end is then a no-op. No capability is needed on the target, and
/// <c>late-block-activate</c> would change nothing (it only defers an activation the export already did).</item>
/// <item><c>copy-mode: write-blocking</c>: a guest write completes only once the target has it too (except the parts of
/// chunks still marked dirty, which the background copy brings), so a ready job stays ready however fast the guest
/// writes.</item>
/// <item><c>pause-before-switchover</c> on the source whenever disks are mirrored (set by <see cref="SendAsync"/>).
/// At the end of a migration the source inactivates its disks, and a mirror job that writes after that aborts the
/// whole process in QEMU 7.2 (<c>bdrv_co_write_req_prepare: Assertion `!(bs->open_flags &amp; BDRV_O_INACTIVE)'</c>,
/// seen here). Paused before the switch-over, the guest is stopped and the disks still active: each job is cancelled
/// without <c>force</c>, which makes its last copy (the chunks still marked dirty) and ends it without a pivot (the
/// source keeps its own disks); then <c>migrate-continue</c>. libvirt ends its mirrors at the same point.</item>
/// <item><c>auto-dismiss: false</c> and <c>on-target-error</c>/<c>on-source-error: stop</c>: a failed job stays in
/// <c>query-block-jobs</c> with its error text until it is dismissed, and an I/O error shows there at once
/// (<c>io-status: failed</c>) rather than when a rate-limited job next wakes (with QEMU's default <c>report</c>, seen
/// 30 s late): no event has to be caught, and nothing is lost across a re-attach.</item>
/// <item>Ending a mirror in any other case cuts its NBD connections first (<c>yank</c>), then cancels with
/// <c>force</c>: a forced cancel drains the job's in-flight writes in QEMU's main loop, and with a target that stopped
/// answering (its sockets open) that held QMP unanswered until TCP would give up (seen).</item>
/// <item>The target must stop its NBD server before it is resumed. QEMU 7.2 does not refuse <c>cont</c> while the
/// export exists (measured), but the export then still accepts writes under the running guest: a stale source, or
/// anyone else on the underlay, could write into the guest's disk behind its back (libvirt stops the destination's NBD
/// server before it resumes, too).</item>
/// </list>
/// NBD carries no authentication or encryption here: the export exists only while a migration runs, on the host's
/// underlay address, like the memory stream itself.
/// </remarks>
public sealed partial class QemuDriver : IDiskMirror
{
    /// <summary>The NBD client node and the block job of a slot's mirror are this plus the slot.</summary>
    private const string MirrorPrefix = "mirror";

    /// <summary>How many free ports are tried when another process took the one picked before QEMU could bind it.</summary>
    private const int NbdPortAttempts = 5;

    /// <summary>QEMU's default <c>buf-size</c> of a mirror (data in flight at once).</summary>
    private const long MaxMirrorBuffer = 16L << 20;

    /// <summary>The mirror's granularity on an NBD target (QEMU's default when the target has no cluster size).</summary>
    private const long MinMirrorBuffer = 64L << 10;

    private static readonly TimeSpan MirrorPoll = TimeSpan.FromMilliseconds(20);

    public async Task<string> ExportDisksAsync(string vm, string address, IReadOnlyList<int> slots, CancellationToken cancellationToken)
    {
        var ip = ParseAddress(address);
        EnsureSlots(slots);
        var qemu = Require(vm);
        var state = String(await qemu.CommandAsync("query-status", null, cancellationToken).ConfigureAwait(false), "status");
        if (state != "inmigrate")
        {
            // Exporting the disks of a guest that runs (or ran) would let the source overwrite them under it.
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': only an incoming process that has not received its guest yet exports its disks (it is {state})");
        }

        await RequireDiskNodesAsync(qemu, slots, cancellationToken).ConfigureAwait(false);

        // A repeated call replaces the earlier server: the port it returned cannot be read back from QEMU, and no
        // source can be mirroring into it yet, since a source starts only after it has the endpoint.
        await StopNbdServerAsync(qemu, cancellationToken).ConfigureAwait(false);
        var credentials = await StreamCredentialsAsync(qemu, vm, server: true, cancellationToken).ConfigureAwait(false);
        var port = await StartNbdServerAsync(qemu, ip, credentials, cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var slot in slots)
            {
                var node = DiskNode(slot);
                var export = new JsonObject { ["type"] = "nbd", ["id"] = node, ["node-name"] = node, ["name"] = node, ["writable"] = true };
                await qemu.CommandAsync("block-export-add", export, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await StopNbdServerAsync(qemu, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        var endpoint = new IPEndPoint(ip, port).ToString();
        LogDisksExported(vm, endpoint, slots.Count);
        return endpoint;
    }

    public async Task EndExportAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        if (!qemu.Status.IsAlive)
        {
            return;
        }

        // Closes every export, and waits for their connections to go, before it answers.
        if (await StopNbdServerAsync(qemu, cancellationToken).ConfigureAwait(false))
        {
            LogExportEnded(vm);
        }
    }

    public async Task StartMirrorAsync(string vm, string endpoint, IReadOnlyList<int> slots, long? bandwidthBytesPerSecond, CancellationToken cancellationToken)
    {
        if (!IPEndPoint.TryParse(endpoint, out var target) || target.Port == 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"endpoint '{endpoint}' is not ADDRESS:PORT");
        }

        if (bandwidthBytesPerSecond is <= 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"bandwidth {bandwidthBytesPerSecond} B/s is not positive");
        }

        EnsureSlots(slots);
        var qemu = Require(vm);
        var migration = String(await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false), "status");
        if (migration is not (null or "none" or "completed" or "failed" or "cancelled"))
        {
            // The disks must be in sync before the memory goes (SendAsync checks), and that migration would not stop
            // before its switch-over to let the jobs end.
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{vm}': its memory migration is under way ({migration}); disks are mirrored before it starts");
        }

        await RequireDiskNodesAsync(qemu, slots, cancellationToken).ConfigureAwait(false);

        // A repeated call starts over: whatever an earlier one left is ended first, and the full sync then copies every
        // block again into the same export.
        await EndMirrorAsync(vm, cancellationToken).ConfigureAwait(false);
        var credentials = await StreamCredentialsAsync(qemu, vm, server: false, cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var slot in slots)
            {
                await StartOneMirrorAsync(qemu, target, slot, bandwidthBytesPerSecond, credentials, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await EndMirrorAsync(vm, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        LogMirrorStarted(vm, endpoint, slots.Count, bandwidthBytesPerSecond);
    }

    public async Task<IReadOnlyList<DiskMirrorProgress>> QueryMirrorAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        var jobs = await QueryMirrorJobsAsync(qemu, cancellationToken).ConfigureAwait(false);
        return [.. jobs.Select(job => job.Progress)];
    }

    public async Task EndMirrorAsync(string vm, CancellationToken cancellationToken)
    {
        var qemu = Require(vm);
        if (!qemu.Status.IsAlive)
        {
            return;
        }

        var migration = String(await qemu.CommandAsync("query-migrate", null, cancellationToken).ConfigureAwait(false), "status") ?? "none";
        var jobs = await QueryMirrorJobsAsync(qemu, cancellationToken).ConfigureAwait(false);
        switch (migration)
        {
            case "pre-switchover":
                await FinishAtSwitchOverAsync(qemu, jobs, cancellationToken).ConfigureAwait(false);
                return;
            case "completed" when jobs.Count > 0 && String(await qemu.CommandAsync("query-status", null, cancellationToken).ConfigureAwait(false), "status") == "postmigrate":
                // Only a migration sent before the mirrors started gets here (SendAsync pauses any other before its
                // switch-over): nothing says the target has the disks, so nothing is touched and the caller gives up.
                // (Once the source runs again, its disks are its own again, and the mirror is simply abandoned.)
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{vm}': its memory migration completed while its disks were still being mirrored; the target's copies are not known to be complete");
        }

        if (jobs.Count == 0 && (await MirrorNodesAsync(qemu, cancellationToken).ConfigureAwait(false)).Count == 0)
        {
            return;
        }

        await AbandonMirrorsAsync(qemu, jobs, cancellationToken).ConfigureAwait(false);
        if (jobs.Count > 0 && migration is "setup" or "active" or "device" or "postcopy-active" or "postcopy-paused")
        {
            // It would stop before its switch-over and wait for disks that will never be in sync.
            await CancelAsync(vm, resume: false, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The source stopped its guest before the switch-over (<c>pre-switchover</c>), with its disks still active: every
    /// job must be ready. Each is then cancelled without <c>force</c>, which copies what is still marked dirty (the
    /// guest is stopped, so this ends) and ends without a pivot; only then does the migration go on, so the source
    /// inactivates its disks with no job left to write to them (in QEMU 7.2, a mirror that writes after that aborts the
    /// process: <c>bdrv_co_write_req_prepare: Assertion `!(bs->open_flags &amp; BDRV_O_INACTIVE)'</c>, seen here with a
    /// migration that completed under a mirror not yet ready). Anything else cancels the migration (the guest runs on
    /// where it is) and throws, so that a repeated call can never let it complete with a disk short of writes.
    /// </summary>
    private async Task FinishAtSwitchOverAsync(QemuVm qemu, List<MirrorJob> jobs, CancellationToken cancellationToken)
    {
        var problems = jobs.Count == 0
            ? ["no disk mirror is left"]
            : jobs.Where(job => !job.Progress.Ready).Select(job => $"disk {job.Progress.Slot} is not in sync ({job.Progress.Error ?? job.Status})").ToList();
        if (problems.Count == 0)
        {
            foreach (var job in jobs)
            {
                await TryMirrorCommandAsync(qemu, "block-job-cancel", new JsonObject { ["device"] = job.Id, ["force"] = false }, cancellationToken).ConfigureAwait(false);
            }

            // A soft cancel waits for the target, in the job's coroutine (QMP stays free): one that stopped answering
            // is cut off after a while, which fails the job.
            jobs = await WaitForJobsToSettleAsync(qemu, _options.QmpTimeout, cancellationToken).ConfigureAwait(false);
            if (jobs.Any(job => job.Status != "concluded" && job.Progress.Error is null))
            {
                await YankMirrorNodesAsync(qemu, cancellationToken).ConfigureAwait(false);
                jobs = await WaitForJobsToSettleAsync(qemu, _options.QmpTimeout, cancellationToken).ConfigureAwait(false);
            }

            problems.AddRange(jobs.Where(job => job.Status != "concluded" || job.ErrorText is not null).Select(job => $"disk {job.Progress.Slot}'s last copy failed ({job.ErrorText ?? job.Progress.Error ?? job.Status})"));
        }

        await AbandonMirrorsAsync(qemu, jobs, cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            await CancelAsync(qemu.Name, resume: false, cancellationToken).ConfigureAwait(false);
            throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{qemu.Name}': at the switch-over, {string.Join("; ", problems)}: the memory migration was cancelled");
        }

        await qemu.CommandAsync("migrate-continue", new JsonObject { ["state"] = "pre-switchover" }, cancellationToken).ConfigureAwait(false);
        LogMirrorFinished(qemu.Name, jobs.Count);
    }

    /// <summary>
    /// Ends whatever mirror jobs remain and removes the NBD client nodes, never waiting on the target. The connections
    /// are cut first: a forced cancel drains the job's in-flight writes in QEMU's main loop, which a target that stopped
    /// answering (its sockets open) would hold, and QMP with it, until TCP gives up (seen: <c>block-job-cancel</c>
    /// unanswered). Cut off, those writes fail at once, and the jobs end without waiting.
    /// </summary>
    private async Task AbandonMirrorsAsync(QemuVm qemu, List<MirrorJob> jobs, CancellationToken cancellationToken)
    {
        if (jobs.Any(job => job.Status != "concluded"))
        {
            await YankMirrorNodesAsync(qemu, cancellationToken).ConfigureAwait(false);
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(_options.QmpTimeout.TotalSeconds * Stopwatch.Frequency);
        var ended = jobs.Select(job => job.Id).ToHashSet(StringComparer.Ordinal);
        var cancelled = new HashSet<string>(StringComparer.Ordinal);
        while (jobs.Count > 0)
        {
            foreach (var job in jobs)
            {
                if (job.Status == "concluded")
                {
                    await TryMirrorCommandAsync(qemu, "block-job-dismiss", new JsonObject { ["id"] = job.Id }, cancellationToken).ConfigureAwait(false);
                }
                else if (cancelled.Add(job.Id))
                {
                    await TryMirrorCommandAsync(qemu, "block-job-cancel", new JsonObject { ["device"] = job.Id, ["force"] = true }, cancellationToken).ConfigureAwait(false);
                }
            }

            if (Stopwatch.GetTimestamp() >= deadline)
            {
                throw new HypervisorException(HypervisorErrorKind.Failed, $"vm '{qemu.Name}': the disk mirror jobs did not end within {_options.QmpTimeout.TotalSeconds:0} s ({string.Join(", ", jobs.Select(j => $"{j.Id} {j.Status}"))})");
            }

            await Task.Delay(MirrorPoll, cancellationToken).ConfigureAwait(false);
            jobs = await QueryMirrorJobsAsync(qemu, cancellationToken).ConfigureAwait(false);
        }

        var removed = 0;
        foreach (var node in await MirrorNodesAsync(qemu, cancellationToken).ConfigureAwait(false))
        {
            await qemu.CommandAsync("blockdev-del", new JsonObject { ["node-name"] = node }, cancellationToken).ConfigureAwait(false);
            removed++;
        }

        LogMirrorEnded(qemu.Name, ended.Count, removed);
    }

    /// <returns>
    /// The jobs as they are once every one has concluded or stopped on an error (it waits to be resumed, which nothing
    /// will do), or when <paramref name="patience"/> ran out.
    /// </returns>
    private static async Task<List<MirrorJob>> WaitForJobsToSettleAsync(QemuVm qemu, TimeSpan patience, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(patience.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var jobs = await QueryMirrorJobsAsync(qemu, cancellationToken).ConfigureAwait(false);
            if (jobs.All(job => job.Status == "concluded" || job.Progress.Error is not null) || Stopwatch.GetTimestamp() >= deadline)
            {
                return jobs;
            }

            await Task.Delay(MirrorPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Before the source sends its memory: refuses while a disk's mirror is not ready (its target would lack writes, and
    /// QEMU 7.2 aborts a source whose mirror still copies when the migration completes). Returns whether disks are
    /// mirrored: the migration must then stop before its switch-over, for <see cref="EndMirrorAsync"/>.
    /// </summary>
    private static async Task<bool> EnsureMirrorsReadyAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var jobs = await QueryMirrorJobsAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (jobs.FirstOrDefault(job => !job.Progress.Ready) is { } job)
        {
            throw new HypervisorException(HypervisorErrorKind.Conflict, $"vm '{qemu.Name}': disk {job.Progress.Slot}'s mirror is not ready ({job.Progress.Error ?? job.Status}); the memory may follow only when every disk is in sync");
        }

        return jobs.Count > 0;
    }

    /// <summary>For tests: the names of the process's named block nodes (<c>query-named-block-nodes</c>).</summary>
    internal async Task<IReadOnlyList<string>> BlockNodeNamesAsync(string vm, CancellationToken cancellationToken)
    {
        var nodes = await Require(vm).CommandAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false);
        return [.. nodes.EnumerateArray().Select(node => String(node, "node-name")).OfType<string>().Where(name => !name.StartsWith('#'))];
    }

    /// <summary>The NBD client node to the target's export of the slot's disk, then the mirror job into it.</summary>
    private static async Task StartOneMirrorAsync(QemuVm qemu, IPEndPoint target, int slot, long? bandwidth, string credentials, CancellationToken cancellationToken)
    {
        var node = MirrorNode(slot);
        var client = new JsonObject
        {
            ["driver"] = "nbd",
            ["node-name"] = node,
            ["server"] = new JsonObject { ["type"] = "inet", ["host"] = target.Address.ToString(), ["port"] = target.Port.ToString(CultureInfo.InvariantCulture) },
            ["export"] = DiskNode(slot),

            // A lost connection fails the requests at once instead of waiting to reconnect: the job stops with an
            // error the caller sees, and write-blocking guest writes are not held back by a dead target.
            ["reconnect-delay"] = 0,
        };
        if (credentials.Length > 0)
        {
            client["tls-creds"] = credentials;
        }

        await qemu.CommandAsync("blockdev-add", client, cancellationToken).ConfigureAwait(false);

        var mirror = new JsonObject
        {
            ["job-id"] = node,
            ["device"] = DiskNode(slot),
            ["target"] = node,

            // The whole disk as the guest sees it, backing image included: the target's volume needs no backing file
            // (and so may occupy more than the source's thin overlay).
            ["sync"] = "full",
            ["copy-mode"] = "write-blocking",
            ["auto-dismiss"] = false,
            ["on-source-error"] = "stop",
            ["on-target-error"] = "stop",
        };
        if (bandwidth is { } speed)
        {
            mirror["speed"] = speed;

            // QEMU puts up to buf-size in flight, then sleeps off the cap: 16 MiB at once would make a cap of 1 MiB/s
            // a 16 MiB burst and a 16 s silence. About a second's worth keeps the rate (and the progress) even.
            mirror["buf-size"] = Math.Clamp(speed, MinMirrorBuffer, MaxMirrorBuffer);
        }

        await qemu.CommandAsync("blockdev-mirror", mirror, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the NBD server on a free port of <paramref name="ip"/>. QEMU does not report the port it picks for port
    /// 0, so the driver asks the kernel for a free one and hands it over. Between closing its probe socket and QEMU's
    /// bind, another process may take that port: QEMU then says so, and another port is tried.
    /// </summary>
    private static async Task<int> StartNbdServerAsync(QemuVm qemu, IPAddress ip, string credentials, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort(ip);
            var arguments = new JsonObject
            {
                ["addr"] = new JsonObject
                {
                    ["type"] = "inet",
                    ["data"] = new JsonObject { ["host"] = ip.ToString(), ["port"] = port.ToString(CultureInfo.InvariantCulture) },
                },
            };
            if (credentials.Length > 0)
            {
                arguments["tls-creds"] = credentials;
            }

            try
            {
                await qemu.CommandAsync("nbd-server-start", arguments, cancellationToken).ConfigureAwait(false);
                return port;
            }
            catch (HypervisorException ex) when (attempt < NbdPortAttempts && QmpError(ex)?.Contains("Address already in use", StringComparison.Ordinal) == true)
            {
            }
        }
    }

    private static int FreePort(IPAddress ip)
    {
        using var probe = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(ip, 0));
        }
        catch (SocketException ex)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"address '{ip}' cannot be bound on this host: {ex.Message}", ex);
        }

        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <returns>Whether a server was running.</returns>
    private static async Task<bool> StopNbdServerAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        try
        {
            await qemu.CommandAsync("nbd-server-stop", null, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (HypervisorException ex) when (QmpError(ex) == "NBD server not running")
        {
            return false;
        }
    }

    private static async Task<List<MirrorJob>> QueryMirrorJobsAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var answer = await qemu.CommandAsync("query-block-jobs", null, cancellationToken).ConfigureAwait(false);
        var jobs = new List<MirrorJob>();
        foreach (var job in answer.EnumerateArray())
        {
            if (String(job, "device") is not { } id || MirrorSlot(id) is not { } slot)
            {
                continue; // Not one of ours (no other job runs today, but a stream or commit job would not be ours to end).
            }

            var status = String(job, "status") ?? "unknown";
            var wasReady = job.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;
            var ioStatus = String(job, "io-status") ?? "ok";
            var errorText = String(job, "error");
            var error = (status, errorText, ioStatus) switch
            {
                ("concluded", { } text, _) => $"the copy ended: {text}",
                ("concluded", null, _) => "the copy ended",
                (_, _, "nospace") => "the copy stopped: no space left on the target",
                (_, _, "failed") => "the copy stopped on an I/O error (the target's export failed or is unreachable, or the disk could not be read)",
                _ => null,
            };
            var progress = new DiskMirrorProgress(slot, wasReady && error is null, Long(job, "offset") ?? 0, Long(job, "len") ?? 0, error);
            jobs.Add(new MirrorJob(id, status, wasReady, errorText, progress));
        }

        jobs.Sort((a, b) => a.Progress.Slot.CompareTo(b.Progress.Slot));
        return jobs;
    }

    private static async Task<List<string>> MirrorNodesAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        var nodes = await qemu.CommandAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false);
        return [.. nodes.EnumerateArray().Select(node => String(node, "node-name")).OfType<string>().Where(name => MirrorSlot(name) is not null)];
    }

    /// <summary>Shuts down the NBD clients' connections; one node at a time, since QEMU yanks nothing when one instance is unknown.</summary>
    private static async Task YankMirrorNodesAsync(QemuVm qemu, CancellationToken cancellationToken)
    {
        foreach (var node in await MirrorNodesAsync(qemu, cancellationToken).ConfigureAwait(false))
        {
            var instance = new JsonObject { ["type"] = "block-node", ["node-name"] = node };
            await TryMirrorCommandAsync(qemu, "yank", new JsonObject { ["instances"] = new JsonArray { instance } }, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A job command that may race the job's own end (it concluded, or vanished, since the last query).</summary>
    private static async Task TryMirrorCommandAsync(QemuVm qemu, string command, JsonObject arguments, CancellationToken cancellationToken)
    {
        try
        {
            await qemu.CommandAsync(command, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (HypervisorException ex) when (QmpError(ex) is not null)
        {
            // The next query shows where the job really is.
        }
    }

    private static async Task RequireDiskNodesAsync(QemuVm qemu, IReadOnlyList<int> slots, CancellationToken cancellationToken)
    {
        var nodes = await qemu.CommandAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, cancellationToken).ConfigureAwait(false);
        var names = nodes.EnumerateArray().Select(node => String(node, "node-name")).OfType<string>().ToHashSet(StringComparer.Ordinal);
        if (slots.FirstOrDefault(slot => !names.Contains(DiskNode(slot)), -1) is var missing and >= 0)
        {
            throw new HypervisorException(HypervisorErrorKind.NotFound, $"vm '{qemu.Name}' has no disk in slot {missing}");
        }
    }

    private static void EnsureSlots(IReadOnlyList<int> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        if (slots.Count == 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, "no disk slots given");
        }

        if (slots.Any(slot => slot is < 0 or >= DiskSpec.MaxDisks))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"disk slots must be 0–{DiskSpec.MaxDisks - 1}: [{string.Join(", ", slots)}]");
        }

        if (slots.Distinct().Count() != slots.Count)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"disk slots repeat: [{string.Join(", ", slots)}]");
        }
    }

    private static IPAddress ParseAddress(string address) =>
        IPAddress.TryParse(address, out var ip)
            ? ip
            : throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"address '{address}' is not an IP address");

    private static string DiskNode(int slot) => $"disk{slot.ToString(CultureInfo.InvariantCulture)}";

    private static string MirrorNode(int slot) => MirrorPrefix + slot.ToString(CultureInfo.InvariantCulture);

    private static int? MirrorSlot(string name) =>
        name.StartsWith(MirrorPrefix, StringComparison.Ordinal)
        && int.TryParse(name.AsSpan(MirrorPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var slot)
        && slot < DiskSpec.MaxDisks
            ? slot
            : null;

    /// <summary>QEMU's own error text when <paramref name="ex"/> is a refused QMP command.</summary>
    private static string? QmpError(HypervisorException ex) => (ex.InnerException as QmpCommandException)?.Description;

    /// <param name="Id">The job's id (its <c>device</c> in <c>query-block-jobs</c>).</param>
    /// <param name="Status">QEMU's job status (<c>running</c>, <c>ready</c>, <c>paused</c>, <c>concluded</c>, …).</param>
    /// <param name="WasReady">QEMU's <c>ready</c>, whatever happened since.</param>
    /// <param name="ErrorText">QEMU's <c>error</c> (set once a job that failed or was cancelled concluded).</param>
    /// <param name="Progress">What the caller sees.</param>
    private sealed record MirrorJob(string Id, string Status, bool WasReady, string? ErrorText, DiskMirrorProgress Progress);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: {Count} disk(s) exported over NBD at {Endpoint}")]
    private partial void LogDisksExported(string vm, string endpoint, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: NBD export of its disks ended")]
    private partial void LogExportEnded(string vm);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: mirroring {Count} disk(s) to {Endpoint} (cap {Bandwidth} B/s)")]
    private partial void LogMirrorStarted(string vm, string endpoint, int count, long? bandwidth);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: disk mirror ended ({Jobs} job(s) ended, {Nodes} NBD client(s) removed)")]
    private partial void LogMirrorEnded(string vm, int jobs, int nodes);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: {Count} disk(s) in sync at the switch-over; the migration goes on")]
    private partial void LogMirrorFinished(string vm, int count);
}
