using System.Collections.Frozen;

namespace Fabric.Contracts;

/// <summary>
/// The VM lifecycle state machine: one table of legal transitions, shared by operator requests and
/// observations from the hypervisor. An illegal request is a <c>conflict</c>.
/// </summary>
public static class VmLifecycle
{
    private static readonly FrozenSet<(VmState From, VmState To)> Transitions = new (VmState, VmState)[]
    {
        (VmState.Defined, VmState.Starting),
        (VmState.Defined, VmState.Deleted),

        (VmState.Starting, VmState.Running),
        (VmState.Starting, VmState.Paused),
        (VmState.Starting, VmState.Stopping),
        (VmState.Starting, VmState.Stopped),
        (VmState.Starting, VmState.Failed),

        (VmState.Running, VmState.Running), // reboot: same process, new guest boot
        (VmState.Running, VmState.Paused),
        (VmState.Running, VmState.Stopping),
        (VmState.Running, VmState.Stopped),
        (VmState.Running, VmState.Failed),

        (VmState.Paused, VmState.Running),
        (VmState.Paused, VmState.Stopping),
        (VmState.Paused, VmState.Stopped),
        (VmState.Paused, VmState.Failed),

        (VmState.Stopping, VmState.Stopping), // a repeated stop may escalate to a forced one
        (VmState.Stopping, VmState.Stopped),
        (VmState.Stopping, VmState.Failed),

        (VmState.Stopped, VmState.Starting),
        (VmState.Stopped, VmState.Deleted),

        (VmState.Failed, VmState.Starting),
        (VmState.Failed, VmState.Deleted),

        // Observed facts: a start whose outcome was unknown (Failed) may turn out to have launched the process,
        // and a Failed VM may still have a process to stop.
        (VmState.Failed, VmState.Running),
        (VmState.Failed, VmState.Paused),
        (VmState.Failed, VmState.Stopping),
    }.ToFrozenSet();

    public static bool CanTransition(VmState from, VmState to) => Transitions.Contains((from, to));

    /// <summary>The state an action leads to when it is accepted.</summary>
    public static VmState TargetOf(VmAction action) => action switch
    {
        VmAction.Start => VmState.Starting,
        VmAction.Stop => VmState.Stopping,
        VmAction.Pause => VmState.Paused,
        VmAction.Resume => VmState.Running,
        VmAction.Reboot => VmState.Running,
        VmAction.Delete => VmState.Deleted,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    /// <summary>States from which <paramref name="action"/> is accepted.</summary>
    public static IReadOnlyList<VmState> AllowedFrom(VmAction action) =>
        Enum.GetValues<VmState>().Where(s => IsAllowed(s, action)).ToArray();

    public static bool IsAllowed(VmState current, VmAction action) =>
        action switch
        {
            // Reboot is only meaningful for a running guest; Running→Running is otherwise legal only as an observation.
            VmAction.Reboot => current == VmState.Running,
            VmAction.Resume => current == VmState.Paused,

            // Likewise Starting→Paused and Failed→Paused are observations; only a running guest can be paused on request.
            VmAction.Pause => current == VmState.Running,
            _ => CanTransition(current, TargetOf(action)),
        };

    /// <summary>Returns the target state of <paramref name="action"/>, or throws <c>conflict</c> naming the VM and its state.</summary>
    public static VmState Require(string vm, VmState current, VmAction action)
    {
        if (!IsAllowed(current, action))
        {
            var allowed = string.Join(", ", AllowedFrom(action));
            throw FabricException.Conflict($"vm '{vm}' is {current}; cannot {action.ToString().ToLowerInvariant()} it (allowed when {allowed})");
        }

        return TargetOf(action);
    }
}
