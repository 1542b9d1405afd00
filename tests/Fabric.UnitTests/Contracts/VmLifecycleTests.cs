using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

public sealed class VmLifecycleTests
{
    /// <summary>The intended rules, written out independently of the transition table they are checked against.</summary>
    private static readonly Dictionary<VmAction, (VmState Target, VmState[] From)> Rules = new()
    {
        [VmAction.Start] = (VmState.Starting, [VmState.Defined, VmState.Stopped, VmState.Failed]),

        // A repeated stop while stopping is accepted: it may escalate to a forced stop.
        // A Failed VM may still have a process (a start whose outcome was unknown), so it can be stopped.
        [VmAction.Stop] = (VmState.Stopping, [VmState.Starting, VmState.Running, VmState.Paused, VmState.Stopping, VmState.Failed]),
        [VmAction.Pause] = (VmState.Paused, [VmState.Running]),
        [VmAction.Resume] = (VmState.Running, [VmState.Paused]),
        [VmAction.Reboot] = (VmState.Running, [VmState.Running]),
        [VmAction.Delete] = (VmState.Deleted, [VmState.Defined, VmState.Stopped, VmState.Failed]),
    };

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

    [Fact]
    public void Rules_CoverEveryAction()
    {
        Assert.Equal(Enum.GetValues<VmAction>().Order(), Rules.Keys.Order());
    }

    [Theory]
    [MemberData(nameof(EveryStateAndAction))]
    public void IsAllowed_FollowsTheRules(VmState state, VmAction action)
    {
        Assert.Equal(Rules[action].From.Contains(state), VmLifecycle.IsAllowed(state, action));
    }

    [Theory]
    [MemberData(nameof(EveryStateAndAction))]
    public void Require_ReturnsTheTargetOrThrowsConflictNamingVmAndState(VmState state, VmAction action)
    {
        var (target, from) = Rules[action];
        if (from.Contains(state))
        {
            Assert.Equal(target, VmLifecycle.Require("web-1", state, action));
            return;
        }

        var error = Assert.Throws<FabricException>(() => VmLifecycle.Require("web-1", state, action));
        Assert.Equal(ErrorCodes.Conflict, error.Code);
        Assert.Contains("'web-1'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"is {state}", error.Message, StringComparison.Ordinal);
        Assert.Contains(action.ToString().ToLowerInvariant(), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryAcceptedRequest_IsALegalTransition()
    {
        var accepted = Rules.Values.SelectMany(rule => rule.From.Select(state => (From: state, To: rule.Target))).ToList();

        Assert.All(accepted, t => Assert.True(VmLifecycle.CanTransition(t.From, t.To), $"{t.From} → {t.To}"));
    }

    [Fact]
    public void Conflict_ListsTheStatesTheActionIsAllowedFrom()
    {
        var error = Assert.Throws<FabricException>(() => VmLifecycle.Require("db", VmState.Running, VmAction.Start));

        Assert.Equal("vm 'db' is Running; cannot start it (allowed when Defined, Stopped, Failed)", error.Message);
    }

    [Theory]
    [InlineData(VmAction.Start)]
    [InlineData(VmAction.Stop)]
    [InlineData(VmAction.Pause)]
    [InlineData(VmAction.Resume)]
    [InlineData(VmAction.Reboot)]
    [InlineData(VmAction.Delete)]
    public void AllowedFrom_MatchesTheRules(VmAction action)
    {
        Assert.Equal(Rules[action].From.Order(), VmLifecycle.AllowedFrom(action).Order());
    }

    [Fact]
    public void TargetOf_UnknownActionThrows()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => VmLifecycle.TargetOf((VmAction)99));
    }

    [Fact]
    public void Deleted_IsTerminal()
    {
        Assert.All(Enum.GetValues<VmState>(), to => Assert.False(VmLifecycle.CanTransition(VmState.Deleted, to)));
    }

    [Fact]
    public void Defined_IsNeverReentered()
    {
        Assert.All(Enum.GetValues<VmState>(), from => Assert.False(VmLifecycle.CanTransition(from, VmState.Defined)));
    }

    [Theory]
    [InlineData(VmState.Starting, VmState.Running, true)] // boot completed
    [InlineData(VmState.Running, VmState.Stopped, true)] // guest powered off
    [InlineData(VmState.Running, VmState.Failed, true)] // process crashed
    [InlineData(VmState.Paused, VmState.Stopped, true)]
    [InlineData(VmState.Stopping, VmState.Stopped, true)]
    [InlineData(VmState.Stopping, VmState.Running, false)] // a stop is never undone
    [InlineData(VmState.Stopping, VmState.Paused, false)]
    [InlineData(VmState.Stopped, VmState.Running, false)] // must pass through Starting
    [InlineData(VmState.Failed, VmState.Running, true)] // a start whose outcome was unknown did launch the process
    [InlineData(VmState.Defined, VmState.Running, false)]
    [InlineData(VmState.Running, VmState.Deleted, false)] // stop before delete
    [InlineData(VmState.Paused, VmState.Deleted, false)]
    public void CanTransition_ObservedChanges(VmState from, VmState to, bool legal)
    {
        Assert.Equal(legal, VmLifecycle.CanTransition(from, to));
    }
}
