namespace Fabric.Hypervisor.Qemu;

/// <summary>A level-free wake-up: waiters take the current pulse, <see cref="Fire"/> completes it and arms a new one.</summary>
internal sealed class AsyncPulse
{
    private TaskCompletionSource _current = NewSource();

    /// <summary>Take this before checking the condition you wait for, so a pulse between check and wait is not lost.</summary>
    public Task Next => Volatile.Read(ref _current).Task;

    public void Fire() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
