using System.Collections.Frozen;
using Fabric.Contracts;

namespace Fabric.Grains.Vm;

/// <summary>How a host's report relates to the VM's record (same host and epoch).</summary>
internal enum InstanceMatch
{
    /// <summary>The host holds the record's instance.</summary>
    Current,

    /// <summary>The host holds another instance, or none: it never accepted the record's instance, or lost it.</summary>
    Other,
}

/// <summary>What the VM asks of its host, beyond recording a state, to bring what runs in line with what it wants.</summary>
internal enum Correction
{
    None,

    /// <summary>A stop was accepted but the process still runs (its host restarted mid-stop): ask again, forced once the grace is over.</summary>
    RedriveStop,

    /// <summary>The host runs a process the record does not want (another instance, or any while the VM is stopped): stop it at once.</summary>
    StopHostInstance,
}

/// <summary>The outcome of a host's report: a new state (or none), a return to the state before the request, and a correction.</summary>
internal readonly record struct Settlement(VmState? To, bool Revert, Correction Correction)
{
    public static readonly Settlement Stay = new(null, false, Correction.None);

    public static Settlement Become(VmState state) => new(state, false, Correction.None);

    public static Settlement Correct(Correction correction) => new(null, false, correction);
}

/// <summary>
/// The one authority over a VM's lifecycle: which requests each state accepts and what state they set before the host
/// is asked (<see cref="Require"/>), how a request ends when the host refuses it, fails it, or leaves its outcome
/// unknown, and what each report of the host leads to (<see cref="Settle"/>). The VM grain changes state only through
/// here; <see cref="CanTransition"/> is the union of every edge these rules can produce.
/// </summary>
internal static class VmTransitions
{
    /// <summary>The states a forced stop of a VM whose host is Down moves on from (to Stopped, released from that host).</summary>
    public static readonly IReadOnlySet<VmState> DetachableStates = new HashSet<VmState>
    {
        VmState.Starting, VmState.Running, VmState.Paused, VmState.Stopping, VmState.Failed,
    };

    private static readonly FrozenSet<(VmState From, VmState To)> Edges = BuildEdges();

    /// <summary>Whether <paramref name="action"/> is accepted in <paramref name="current"/>.</summary>
    public static bool IsAllowed(VmState current, VmAction action) => action switch
    {
        VmAction.Start => current is VmState.Defined or VmState.Stopped or VmState.Failed,

        // A repeated stop while stopping may escalate to a forced one; a Failed VM may still have a process to stop.
        VmAction.Stop => current is VmState.Starting or VmState.Running or VmState.Paused or VmState.Stopping or VmState.Failed,
        VmAction.Pause => current is VmState.Running,
        VmAction.Resume => current is VmState.Paused,
        VmAction.Reboot => current is VmState.Running,
        VmAction.Delete => current is VmState.Defined or VmState.Stopped or VmState.Failed,
        VmAction.Migrate => current is VmState.Running or VmState.Paused,

        // Snapshots: taken of a live process; restored over any settled state; never while a migration owns the VM,
        // and not deleted while a start or restore (which may be reading one) is under way.
        VmAction.Snapshot => current is VmState.Running or VmState.Paused,
        VmAction.Restore => current is VmState.Running or VmState.Paused or VmState.Stopped or VmState.Failed,
        VmAction.DeleteSnapshot => current is VmState.Defined or VmState.Running or VmState.Paused or VmState.Stopping or VmState.Stopped or VmState.Failed,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    /// <summary>
    /// The state an accepted request sets (and persists) before its host is asked, or null when only the host's answer
    /// changes the state (pause and resume report Paused and Running).
    /// </summary>
    public static VmState? TargetOf(VmAction action) => action switch
    {
        VmAction.Start => VmState.Starting,
        VmAction.Stop => VmState.Stopping,
        VmAction.Reboot => VmState.Running,
        VmAction.Delete => VmState.Deleted,
        VmAction.Migrate => VmState.Migrating,
        VmAction.Restore => VmState.Starting,
        VmAction.Pause or VmAction.Resume or VmAction.Snapshot or VmAction.DeleteSnapshot => null,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    /// <summary>States from which <paramref name="action"/> is accepted.</summary>
    public static IReadOnlyList<VmState> AllowedFrom(VmAction action) =>
        [.. Enum.GetValues<VmState>().Where(s => IsAllowed(s, action))];

    /// <summary>Throws <c>conflict</c> naming the VM, its state and the states that would accept <paramref name="action"/>.</summary>
    public static void Require(string vm, VmState current, VmAction action)
    {
        if (!IsAllowed(current, action))
        {
            var allowed = string.Join(", ", AllowedFrom(action));
            var hint = current == VmState.Migrating ? "; cancel the migration first ('vm migrate NAME --cancel') or wait for it to end" : "";
            var verb = action == VmAction.DeleteSnapshot ? "delete a snapshot of" : action.ToString().ToLowerInvariant();
            throw FabricException.Conflict($"vm '{vm}' is {current}; cannot {verb} it (allowed when {allowed}){hint}");
        }
    }

    /// <summary>
    /// What a host's report leads to. <paramref name="deadlinePassed"/>: the request under way can no longer be in
    /// flight to the host, so a host that holds another instance never received the start.
    /// </summary>
    public static Settlement Settle(VmState state, InstanceMatch match, RuntimePower power, bool deadlinePassed)
    {
        if (state == VmState.Migrating)
        {
            // The migration's coordinator owns the VM until it ends (then EndOfMigration settles it).
            return Settlement.Stay;
        }

        var alive = power is RuntimePower.Running or RuntimePower.Paused or RuntimePower.Launching;
        if (match == InstanceMatch.Other)
        {
            return state switch
            {
                // The host never accepted this start: once it cannot still arrive, the VM goes back to where it was.
                VmState.Starting => deadlinePassed ? new Settlement(null, Revert: true, Correction.None) : Settlement.Stay,
                VmState.Running or VmState.Paused => new Settlement(VmState.Failed, false, alive ? Correction.StopHostInstance : Correction.None),
                VmState.Stopping => new Settlement(VmState.Stopped, false, alive ? Correction.StopHostInstance : Correction.None),
                _ => alive ? Settlement.Correct(Correction.StopHostInstance) : Settlement.Stay,
            };
        }

        return (state, power) switch
        {
            (VmState.Starting, RuntimePower.Launching) => Settlement.Stay,
            (VmState.Starting or VmState.Paused or VmState.Failed, RuntimePower.Running) => Settlement.Become(VmState.Running),
            (VmState.Starting or VmState.Running or VmState.Failed, RuntimePower.Paused) => Settlement.Become(VmState.Paused),
            (VmState.Starting or VmState.Running or VmState.Paused, RuntimePower.ShutDown) => Settlement.Become(VmState.Stopped),
            (VmState.Starting or VmState.Running or VmState.Paused, RuntimePower.Crashed or RuntimePower.Absent) => Settlement.Become(VmState.Failed),

            // A stop is under way: only the end of the process matters; while it lives, the stop is asked again.
            (VmState.Stopping, RuntimePower.ShutDown or RuntimePower.Crashed or RuntimePower.Absent) => Settlement.Become(VmState.Stopped),
            (VmState.Stopping, _) => Settlement.Correct(Correction.RedriveStop),

            // The VM is meant to be down, yet its instance runs: stop it.
            (VmState.Defined or VmState.Stopped, _) when alive => Settlement.Correct(Correction.StopHostInstance),
            _ => Settlement.Stay,
        };
    }

    /// <summary>The state a VM settles in when its migration ends, from what its (possibly new) host reports.</summary>
    public static VmState EndOfMigration(RuntimePower power) => power switch
    {
        RuntimePower.Running => VmState.Running,
        RuntimePower.Paused or RuntimePower.Launching => VmState.Paused,
        RuntimePower.ShutDown => VmState.Stopped,
        _ => VmState.Failed,
    };

    /// <summary>Whether any rule here can move a VM from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static bool CanTransition(VmState from, VmState to) => Edges.Contains((from, to));

    private static FrozenSet<(VmState From, VmState To)> BuildEdges()
    {
        var edges = new HashSet<(VmState, VmState)>();
        var states = Enum.GetValues<VmState>().Where(s => s != VmState.Deleted).ToArray();
        foreach (var state in states)
        {
            // Requests, and how they end when the host refuses (back to where the VM was) or fails them.
            foreach (var action in Enum.GetValues<VmAction>())
            {
                if (IsAllowed(state, action) && TargetOf(action) is { } target)
                {
                    edges.Add((state, target));
                    if (target is VmState.Starting or VmState.Stopping)
                    {
                        edges.Add((target, state));
                        edges.Add((target, VmState.Failed));
                    }
                }
            }

            // Forced requests: delete from anywhere; a forced stop while the host is Down.
            edges.Add((state, VmState.Deleted));
            if (DetachableStates.Contains(state))
            {
                edges.Add((state, VmState.Stopped));
            }

            // Reports of the host.
            foreach (var match in Enum.GetValues<InstanceMatch>())
            {
                foreach (var power in Enum.GetValues<RuntimePower>())
                {
                    foreach (var deadlinePassed in new[] { false, true })
                    {
                        if (Settle(state, match, power, deadlinePassed).To is { } to)
                        {
                            edges.Add((state, to));
                        }
                    }
                }
            }
        }

        foreach (var power in Enum.GetValues<RuntimePower>())
        {
            edges.Add((VmState.Migrating, EndOfMigration(power)));
        }

        // A start the host never received returns to the state it came from.
        foreach (var from in states.Where(s => IsAllowed(s, VmAction.Start)))
        {
            edges.Add((VmState.Starting, from));
        }

        return edges.ToFrozenSet();
    }
}
