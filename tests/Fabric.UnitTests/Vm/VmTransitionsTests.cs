using Fabric.Contracts;
using Fabric.Grains.Vm;

namespace Fabric.UnitTests.Vm;

/// <summary>The one authority over VM states, checked against its rules written out independently here.</summary>
public sealed class VmTransitionsTests
{
    private static VmState? Stay => null;

    // Declared first: the tables below are built from them.
    private static readonly RuntimePower[] Powers =
        [RuntimePower.Launching, RuntimePower.Running, RuntimePower.Paused, RuntimePower.ShutDown, RuntimePower.Crashed, RuntimePower.Absent];

    private static readonly VmState[] LiveStates = [.. Enum.GetValues<VmState>().Where(s => s != VmState.Deleted)];

    /// <summary>Which states accept each request, and the state it sets before the host is asked.</summary>
    private static readonly Dictionary<VmAction, (VmState? Target, VmState[] From)> Requests = new()
    {
        [VmAction.Start] = (VmState.Starting, [VmState.Defined, VmState.Stopped, VmState.Failed]),
        [VmAction.Stop] = (VmState.Stopping, [VmState.Starting, VmState.Running, VmState.Paused, VmState.Stopping, VmState.Failed]),
        [VmAction.Pause] = (null, [VmState.Running]),
        [VmAction.Resume] = (null, [VmState.Paused]),
        [VmAction.Reboot] = (VmState.Running, [VmState.Running]),
        [VmAction.Delete] = (VmState.Deleted, [VmState.Defined, VmState.Stopped, VmState.Failed]),
        [VmAction.Migrate] = (VmState.Migrating, [VmState.Running, VmState.Paused]),
        [VmAction.Snapshot] = (null, [VmState.Running, VmState.Paused]),
        [VmAction.Restore] = (VmState.Starting, [VmState.Running, VmState.Paused, VmState.Stopped, VmState.Failed]),
        [VmAction.DeleteSnapshot] = (null, [VmState.Defined, VmState.Running, VmState.Paused, VmState.Stopping, VmState.Stopped, VmState.Failed]),
    };

    /// <summary>What a report of the record's own instance leads to, per state and power.</summary>
    private static readonly Dictionary<(VmState, RuntimePower), (VmState? To, Correction Correction)> CurrentInstance = Table(
        (VmState.Starting, [Stay, VmState.Running, VmState.Paused, VmState.Stopped, VmState.Failed, VmState.Failed], Correction.None, Correction.None),
        (VmState.Running, [Stay, Stay, VmState.Paused, VmState.Stopped, VmState.Failed, VmState.Failed], Correction.None, Correction.None),
        (VmState.Paused, [Stay, VmState.Running, Stay, VmState.Stopped, VmState.Failed, VmState.Failed], Correction.None, Correction.None),
        (VmState.Stopping, [Stay, Stay, Stay, VmState.Stopped, VmState.Stopped, VmState.Stopped], Correction.RedriveStop, Correction.None),
        (VmState.Stopped, [Stay, Stay, Stay, Stay, Stay, Stay], Correction.StopHostInstance, Correction.None),
        (VmState.Defined, [Stay, Stay, Stay, Stay, Stay, Stay], Correction.StopHostInstance, Correction.None),
        (VmState.Failed, [Stay, VmState.Running, VmState.Paused, Stay, Stay, Stay], Correction.None, Correction.None),

        // A migration's coordinator owns the VM: reports of either side change nothing until it ends.
        (VmState.Migrating, [Stay, Stay, Stay, Stay, Stay, Stay], Correction.None, Correction.None));

    public static TheoryData<VmState, VmAction> EveryStateAndAction()
    {
        var data = new TheoryData<VmState, VmAction>();
        foreach (var state in Enum.GetValues<VmState>())
        {
            foreach (var action in Enum.GetValues<VmAction>())
            {
                data.Add(state, action);
            }
        }

        return data;
    }

    public static TheoryData<VmState, RuntimePower> EveryStateAndPower()
    {
        var data = new TheoryData<VmState, RuntimePower>();
        foreach (var state in LiveStates)
        {
            foreach (var power in Powers)
            {
                data.Add(state, power);
            }
        }

        return data;
    }

    [Fact]
    public void Tables_CoverEveryActionStateAndPower()
    {
        Assert.Equal(Enum.GetValues<VmAction>().Order(), Requests.Keys.Order());
        Assert.Equal(Enum.GetValues<RuntimePower>().Order(), Powers.Order());
        Assert.Equal(LiveStates.Length * Powers.Length, CurrentInstance.Count);
    }

    [Theory]
    [MemberData(nameof(EveryStateAndAction))]
    public void IsAllowed_FollowsTheRequestRules(VmState state, VmAction action)
    {
        Assert.Equal(Requests[action].From.Contains(state), VmTransitions.IsAllowed(state, action));
        Assert.Equal(Requests[action].Target, VmTransitions.TargetOf(action));
    }

    [Theory]
    [MemberData(nameof(EveryStateAndAction))]
    public void Require_ThrowsConflictNamingVmStateAndAllowedStates(VmState state, VmAction action)
    {
        if (Requests[action].From.Contains(state))
        {
            VmTransitions.Require("web-1", state, action);
            return;
        }

        var error = Assert.Throws<FabricException>(() => VmTransitions.Require("web-1", state, action));
        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Contains("'web-1'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"is {state}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"allowed when {string.Join(", ", Requests[action].From)}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(EveryStateAndPower))]
    public void Settle_ReportOfTheCurrentInstance_FollowsTheTable(VmState state, RuntimePower power)
    {
        var (to, correction) = CurrentInstance[(state, power)];
        foreach (var deadlinePassed in new[] { false, true })
        {
            var settlement = VmTransitions.Settle(state, InstanceMatch.Current, power, deadlinePassed);
            Assert.Equal(to, settlement.To);
            Assert.Equal(correction, settlement.Correction);
            Assert.False(settlement.Revert);
        }
    }

    [Theory]
    [MemberData(nameof(EveryStateAndPower))]
    public void Settle_ReportOfAnotherInstance_NeverTrustsAStartThatMayStillArrive(VmState state, RuntimePower power)
    {
        var alive = power is RuntimePower.Running or RuntimePower.Paused or RuntimePower.Launching;
        var early = VmTransitions.Settle(state, InstanceMatch.Other, power, deadlinePassed: false);
        var late = VmTransitions.Settle(state, InstanceMatch.Other, power, deadlinePassed: true);
        switch (state)
        {
            case VmState.Migrating:
                Assert.Equal(Settlement.Stay, early);
                Assert.Equal(Settlement.Stay, late);
                break;
            case VmState.Starting:
                Assert.Equal(Settlement.Stay, early);
                Assert.Equal(new Settlement(null, Revert: true, Correction.None), late);
                break;
            case VmState.Running or VmState.Paused:
                Assert.Equal(new Settlement(VmState.Failed, false, alive ? Correction.StopHostInstance : Correction.None), early);
                Assert.Equal(early, late);
                break;
            case VmState.Stopping:
                Assert.Equal(new Settlement(VmState.Stopped, false, alive ? Correction.StopHostInstance : Correction.None), early);
                Assert.Equal(early, late);
                break;
            default:
                Assert.Equal(alive ? Settlement.Correct(Correction.StopHostInstance) : Settlement.Stay, early);
                Assert.Equal(early, late);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(EveryStateAndPower))]
    public void EverySettlement_IsALegalTransition(VmState state, RuntimePower power)
    {
        foreach (var match in Enum.GetValues<InstanceMatch>())
        {
            if (VmTransitions.Settle(state, match, power, deadlinePassed: true).To is { } to)
            {
                Assert.True(VmTransitions.CanTransition(state, to), $"{state} -> {to}");
            }
        }
    }

    [Fact]
    public void CanTransition_HoldsExactlyTheEdgesTheRulesProduce()
    {
        var expected = new HashSet<(VmState, VmState)>();
        foreach (var (action, (target, from)) in Requests)
        {
            foreach (var state in from.Where(_ => target is not null))
            {
                expected.Add((state, target!.Value));
                if (target is VmState.Starting or VmState.Stopping)
                {
                    expected.Add((target.Value, state)); // refused: back to where it was
                    expected.Add((target.Value, VmState.Failed)); // failed by the hypervisor
                }
            }
        }

        foreach (var state in LiveStates)
        {
            expected.Add((state, VmState.Deleted)); // a forced delete
        }

        foreach (var state in new[] { VmState.Starting, VmState.Running, VmState.Paused, VmState.Stopping, VmState.Failed })
        {
            expected.Add((state, VmState.Stopped)); // a forced stop while the host is Down
        }

        foreach (var ((state, _), (to, _)) in CurrentInstance)
        {
            if (to is { } target)
            {
                expected.Add((state, target));
            }
        }

        // The end of a migration settles the VM from its host's report.
        foreach (var ended in new[] { VmState.Running, VmState.Paused, VmState.Stopped, VmState.Failed })
        {
            expected.Add((VmState.Migrating, ended));
        }

        expected.Add((VmState.Running, VmState.Failed));
        expected.Add((VmState.Paused, VmState.Failed));
        expected.Add((VmState.Stopping, VmState.Stopped));

        var actual = new HashSet<(VmState, VmState)>();
        foreach (var from in Enum.GetValues<VmState>())
        {
            foreach (var to in Enum.GetValues<VmState>())
            {
                if (VmTransitions.CanTransition(from, to))
                {
                    actual.Add((from, to));
                }
            }
        }

        Assert.Empty(actual.Except(expected).Select(e => $"{e.Item1}->{e.Item2}"));
        Assert.Empty(expected.Except(actual).Select(e => $"{e.Item1}->{e.Item2}"));
    }

    [Theory]
    [InlineData(RuntimePower.Running, VmState.Running)]
    [InlineData(RuntimePower.Paused, VmState.Paused)]
    [InlineData(RuntimePower.Launching, VmState.Paused)]
    [InlineData(RuntimePower.ShutDown, VmState.Stopped)]
    [InlineData(RuntimePower.Crashed, VmState.Failed)]
    [InlineData(RuntimePower.Absent, VmState.Failed)]
    public void TheEndOfAMigration_SettlesFromWhatTheHostHolds(RuntimePower power, VmState expected)
    {
        Assert.Equal(expected, VmTransitions.EndOfMigration(power));
        Assert.True(VmTransitions.CanTransition(VmState.Migrating, expected));
    }

    [Theory]
    [InlineData(VmAction.Start)]
    [InlineData(VmAction.Stop)]
    [InlineData(VmAction.Reboot)]
    [InlineData(VmAction.Delete)]
    [InlineData(VmAction.Migrate)]
    public void AMigratingVm_RefusesRequests_SayingHowToCancel(VmAction action)
    {
        var error = Assert.Throws<FabricException>(() => VmTransitions.Require("web-1", VmState.Migrating, action));
        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Contains("vm migrate NAME --cancel", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NothingLeavesDeleted_AndNothingReturnsToDefined_ExceptAStartThatNeverReachedItsHost()
    {
        Assert.All(Enum.GetValues<VmState>(), to => Assert.False(VmTransitions.CanTransition(VmState.Deleted, to)));
        Assert.All(
            Enum.GetValues<VmState>().Where(from => from != VmState.Starting),
            from => Assert.False(VmTransitions.CanTransition(from, VmState.Defined), $"{from} -> Defined"));
        Assert.True(VmTransitions.CanTransition(VmState.Starting, VmState.Defined));
    }

    private static Dictionary<(VmState, RuntimePower), (VmState?, Correction)> Table(
        params (VmState State, VmState?[] ByPower, Correction WhenAlive, Correction WhenGone)[] rows)
    {
        var table = new Dictionary<(VmState, RuntimePower), (VmState?, Correction)>();
        foreach (var (state, byPower, whenAlive, whenGone) in rows)
        {
            for (var i = 0; i < Powers.Length; i++)
            {
                var alive = Powers[i] is RuntimePower.Launching or RuntimePower.Running or RuntimePower.Paused;
                table[(state, Powers[i])] = (byPower[i], alive ? whenAlive : whenGone);
            }
        }

        return table;
    }
}
