using System.Collections.Concurrent;
using Fabric.Contracts;
using Fabric.Hypervisor;

namespace Fabric.Grains.Host;

/// <summary>Creates the hypervisor driver of one host: QEMU for a real host, the simulation for fleet-scale runs.</summary>
public delegate Task<IHypervisorDriver> HostDriverFactory(string hostId, IServiceProvider services, CancellationToken cancellationToken);

/// <summary>
/// The hypervisor drivers of the hosts this silo serves, one per host, kept for the life of the process (they outlive
/// host grain activations). <see cref="HostAgent"/> creates and attaches each one outside any grain turn — that forks
/// QEMU to read its version, probes the accelerator and waits for launches left in flight — and only then activates
/// the host grain, which looks its driver up. Disposing detaches them: VM processes keep running.
/// </summary>
public sealed class HostDrivers(HostDriverFactory factory, IServiceProvider services) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, IHypervisorDriver> _drivers = new(StringComparer.Ordinal);

    /// <summary>Creates <paramref name="hostId"/>'s driver and re-attaches it to the processes it started before this process began.</summary>
    public async Task<IHypervisorDriver> StartAsync(string hostId, CancellationToken cancellationToken)
    {
        if (_drivers.TryGetValue(hostId, out var running))
        {
            return running;
        }

        var driver = await factory(hostId, services, cancellationToken);
        try
        {
            await driver.AttachAllAsync(cancellationToken);
        }
        catch
        {
            await driver.DisposeAsync();
            throw;
        }

        return _drivers.GetOrAdd(hostId, driver);
    }

    /// <summary>The started driver of <paramref name="hostId"/>, or <c>unavailable</c> while it is not started yet.</summary>
    public IHypervisorDriver Get(string hostId) =>
        _drivers.TryGetValue(hostId, out var driver)
            ? driver
            : throw FabricException.Unavailable($"host '{hostId}' is starting: its driver is not attached yet");

    public async ValueTask DisposeAsync()
    {
        foreach (var driver in _drivers.Values)
        {
            await driver.DisposeAsync();
        }
    }
}
