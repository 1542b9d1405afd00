namespace Fabric.Grains.Persistence;

/// <summary>Names of the storage Fabric's grains use.</summary>
public static class FabricPersistence
{
    /// <summary>The grain storage provider of every Fabric grain (Redis in a cluster, memory in development).</summary>
    public const string Name = "fabric";

    /// <summary>The grain storage Orleans streams keep their subscriptions in.</summary>
    public const string PubSub = "PubSubStore";
}
