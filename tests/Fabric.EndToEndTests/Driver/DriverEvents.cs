using System.Threading.Channels;
using Fabric.Hypervisor;

namespace Fabric.EndToEndTests.Driver;

/// <summary>The one reader of a driver's <see cref="IVmProcesses.Events"/>; keeps every event it consumed.</summary>
internal sealed class DriverEvents(ChannelReader<ProcessEvent> events)
{
    private readonly List<ProcessEvent> _seen = [];

    public IReadOnlyList<ProcessEvent> Seen => _seen;

    /// <summary>Consumes events until one of <paramref name="vm"/> satisfies <paramref name="condition"/>.</summary>
    public async Task<ProcessEvent> WaitForAsync(string vm, Func<ProcessStatus, bool> condition, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var next = await events.ReadAsync(deadline.Token);
                _seen.Add(next);
                if (next.Status.Vm == vm && condition(next.Status))
                {
                    return next;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"no matching event for vm '{vm}' within {timeout.TotalSeconds:0.#} s. {Evidence()}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"the driver's event channel closed while waiting for vm '{vm}'. {Evidence()}");
        }
    }

    /// <summary>Consumes the events already queued, without waiting.</summary>
    public void TakeAvailable()
    {
        while (events.TryRead(out var next))
        {
            _seen.Add(next);
        }
    }

    public string Evidence() => "Events seen:\n  " + string.Join("\n  ", _seen.Select(e => e.Status));
}
