using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Security;

/// <summary>
/// A host silo, two simulated ones, Redis and their CA, run as <c>./fabric up</c> runs them (TLS everywhere, Redis's
/// password in a file), shared by the security tests. Three silos, because a silo that holds Redis's password may vote
/// in the membership table: where only one other silo runs, its lone vote evicts it (docs/tls.md); with three, two
/// votes are needed.
/// </summary>
public sealed class SecureFabric : IAsyncLifetime
{
    public FabricEnvironment Environment { get; private set; } = null!;

    public SiloHandle Silo => Environment.Silos["host-a"];

    public async Task InitializeAsync()
    {
        Environment = await FabricEnvironment.StartAsync("host-a");
        await Task.WhenAll(Environment.StartSimulatedSiloAsync("sim-1", "sim-1-", 1), Environment.StartSimulatedSiloAsync("sim-2", "sim-2-", 1));
    }

    public async Task DisposeAsync() => await Environment.DisposeAsync();

    /// <summary>A CA the fabric never heard of, with a certificate of its own for <paramref name="name"/>.</summary>
    public (TestPki Pki, string Certificate, string Key) Foreign(string name)
    {
        var pki = TestPki.Create(Path.Combine(Environment.Directory, $"foreign-{name}"), "foreign-ca");
        var (certificate, key) = pki.IssueHost(name, System.Net.IPAddress.Loopback);
        return (pki, certificate, key);
    }
}

[CollectionDefinition(Name)]
public sealed class SecureFabricCollection : ICollectionFixture<SecureFabric>
{
    public const string Name = "secure fabric";
}
