using System.Collections.Concurrent;
using Fabric.Hypervisor.Qmp;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Waiting for a QMP event that a command causes (e.g. <c>DEVICE_DELETED</c> after <c>device_del</c>). The monitor loop
/// is the one reader of the connection's events, so a waiter registers with it, before the command is sent: an event
/// that came between the command's answer and a later registration would otherwise be missed.
/// </summary>
internal sealed partial class QemuVm
{
    private readonly ConcurrentDictionary<EventExpectation, byte> _expectations = new();

    /// <summary>
    /// Registers interest in the next event called <paramref name="name"/> that satisfies <paramref name="match"/>.
    /// Dispose the expectation when done waiting. Events sent while the QMP connection was down are lost: a caller
    /// whose wait times out checks the state it waited for some other way.
    /// </summary>
    public EventExpectation Expect(string name, Func<QmpEvent, bool> match)
    {
        var expectation = new EventExpectation(name, match, e => _expectations.TryRemove(e, out _));
        _expectations[expectation] = 0;
        return expectation;
    }

    /// <summary>Called by the monitor loop for every event.</summary>
    private void FulfilExpectations(QmpEvent qmpEvent)
    {
        foreach (var expectation in _expectations.Keys)
        {
            expectation.Offer(qmpEvent);
        }
    }
}

/// <summary>An event some caller waits for (see <see cref="QemuVm.Expect"/>).</summary>
internal sealed class EventExpectation(string name, Func<QmpEvent, bool> match, Action<EventExpectation> release) : IDisposable
{
    private readonly TaskCompletionSource<QmpEvent> _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the event once it arrives.</summary>
    public Task<QmpEvent> Arrived => _arrived.Task;

    /// <summary>Waits for the event; false when it did not come within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _arrived.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public void Offer(QmpEvent qmpEvent)
    {
        if (qmpEvent.Name == name && match(qmpEvent))
        {
            _arrived.TrySetResult(qmpEvent);
        }
    }

    public void Dispose() => release(this);
}
