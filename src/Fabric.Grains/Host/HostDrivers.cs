using System.Collections.Concurrent;
using Fabric.Hypervisor;

namespace Fabric.Grains.Host;

/// <summary>Creates the hypervisor driver of one host: QEMU for a real host, the simulation for fleet-scale runs.</summary>
public delegate Task<IHypervisorDriver> HostDriverFactory(string hostId, IServiceProvider services, CancellationToken cancellationToken);

/// <summary>
/// The hypervisor drivers of the hosts this silo serves, one per host, created on first use and kept for the life of
/// the process (they outlive host grain activations). Disposing detaches them: VM processes keep running.
/// </summary>
public sealed class HostDrivers(HostDriverFactory factory, IServiceProvider services) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<AttachedDriver>>> _drivers = new(StringComparer.Ordinal);

    /// <summary>The driver of <paramref name="hostId"/>, attached to the processes it started before this process began.</summary>
    public Task<AttachedDriver> GetAsync(string hostId) =>
        _drivers.GetOrAdd(hostId, id => new Lazy<Task<AttachedDriver>>(() => CreateAsync(id))).Value;

    public async ValueTask DisposeAsync()
    {
        foreach (var lazy in _drivers.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                await lazy.Value.Result.Driver.DisposeAsync();
            }
        }
    }

    private async Task<AttachedDriver> CreateAsync(string hostId)
    {
        try
        {
            var driver = await factory(hostId, services, CancellationToken.None);
            var found = await driver.AttachAllAsync(CancellationToken.None);
            return new AttachedDriver(driver, found);
        }
        catch
        {
            // Let the next caller try again rather than caching the failure forever.
            _drivers.TryRemove(hostId, out _);
            throw;
        }
    }
}

/// <summary>A host's driver and the processes it found at start-up.</summary>
public sealed class AttachedDriver(IHypervisorDriver driver, IReadOnlyList<ProcessStatus> foundAtStart)
{
    private int _reconciled;

    public IHypervisorDriver Driver { get; } = driver;

    public IReadOnlyList<ProcessStatus> FoundAtStart { get; } = foundAtStart;

    /// <summary>True exactly once per process: the first host activation reconciles what the driver found at start-up.</summary>
    public bool TryClaimReconciliation() => Interlocked.Exchange(ref _reconciled, 1) == 0;
}
