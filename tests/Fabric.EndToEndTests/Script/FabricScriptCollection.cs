namespace Fabric.EndToEndTests.Script;

/// <summary>
/// The tests of ./fabric run one after another: each brings up a whole fabric (Redis, silos, namespaces), and these
/// machines have two cores.
/// </summary>
[CollectionDefinition(Name)]
public sealed class FabricScriptCollection
{
    public const string Name = "fabric script";
}
