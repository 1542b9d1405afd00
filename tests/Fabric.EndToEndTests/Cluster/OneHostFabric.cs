using Fabric.Client;
using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>A fabric of one real host (silo process, QEMU) and Redis, shared by the tests of one class.</summary>
public sealed class OneHostFabric : IAsyncLifetime
{
    public FabricEnvironment Environment { get; private set; } = null!;

    public FabricClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Environment = await FabricEnvironment.StartAsync("host-a");
        Client = await Environment.ConnectAsync();
    }

    public async Task DisposeAsync() => await Environment.DisposeAsync();
}
