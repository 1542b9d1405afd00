using Fabric.Contracts;
using Fabric.Grains.Access;
using Fabric.Grains.Reconciliation;

namespace Fabric.UnitTests.Access;

/// <summary>
/// Which grain methods a client may call: exactly these, written out here. A new grain method fails this test until
/// someone decides whether clients may call it (if not, it is <c>[HostInternal]</c>).
/// </summary>
public sealed class HostInternalTests
{
    private static readonly string[] ClientMethods =
    [
        "IHostGrain.Cordon", "IHostGrain.DumpGuestMemory", "IHostGrain.GetInfo", "IHostGrain.Uncordon",
        "IMigrationGrain.Cancel", "IMigrationGrain.Get", "IMigrationGrain.Start", "IMigrationGrain.WaitForChange",
        "INetworkDirectoryGrain.List",
        "IPoolDirectoryGrain.List",
        "IProjectDirectoryGrain.List",
        "IProjectGrain.Create", "IProjectGrain.Delete", "IProjectGrain.Get", "IProjectGrain.SetQuota",
        "ISchedulerGrain.Forget", "ISchedulerGrain.GetHost", "ISchedulerGrain.ListHosts",
        "IStoragePoolGrain.Create", "IStoragePoolGrain.CreateVolume", "IStoragePoolGrain.Delete", "IStoragePoolGrain.DeleteImage",
        "IStoragePoolGrain.DeleteVolume", "IStoragePoolGrain.Get", "IStoragePoolGrain.GetVolume", "IStoragePoolGrain.ImportImage",
        "IStoragePoolGrain.ListImages", "IStoragePoolGrain.ListVolumes", "IStoragePoolGrain.ResizeVolume",
        "ITokenDirectoryGrain.Create", "ITokenDirectoryGrain.List", "ITokenDirectoryGrain.Revoke",
        "IVirtualNetworkGrain.AddRule", "IVirtualNetworkGrain.Create", "IVirtualNetworkGrain.Delete", "IVirtualNetworkGrain.Get",
        "IVirtualNetworkGrain.RemoveRule",
        "IVmDirectoryGrain.List",
        "IVmGrain.Create", "IVmGrain.Delete", "IVmGrain.Get", "IVmGrain.Pause", "IVmGrain.ReadConsole", "IVmGrain.Reboot",
        "IVmGrain.Resume", "IVmGrain.SendConsole", "IVmGrain.Start", "IVmGrain.Stop", "IVmGrain.WaitFor",
        "IVmNetworks.AttachNic", "IVmNetworks.DetachNic",
        "IVmSnapshots.CreateSnapshot", "IVmSnapshots.DeleteSnapshot", "IVmSnapshots.ListSnapshots", "IVmSnapshots.RestoreSnapshot",
        "IVmVolumes.AttachVolume", "IVmVolumes.DetachVolume", "IVmVolumes.ResizeVolume",
    ];

    private static IEnumerable<Type> GrainInterfaces =>
        typeof(IVmGrain).Assembly.GetExportedTypes().Append(typeof(ICatalogAuditGrain))
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t));

    [Fact]
    public void ClientsMayCallExactlyTheMethodsListed_EveryOtherGrainMethodIsHostInternal()
    {
        var open = GrainInterfaces
            .SelectMany(t => t.GetMethods().Where(m => !HostInternalCallFilter.IsHostInternal(m)).Select(m => $"{t.Name}.{m.Name}"))
            .Order(StringComparer.Ordinal);

        Assert.Equal(ClientMethods.Order(StringComparer.Ordinal), open);
    }

    [Fact]
    public void AMarkOnTheInterface_CoversEveryMethodOfIt()
    {
        Assert.All(
            new[] { typeof(IHostStorage), typeof(IHostSnapshots), typeof(IHostNetworking), typeof(ICatalogAuditGrain) }.SelectMany(t => t.GetMethods()),
            m => Assert.True(HostInternalCallFilter.IsHostInternal(m), m.Name));
        Assert.True(HostInternalCallFilter.IsHostInternal(typeof(IHostGrain).GetMethod(nameof(IHostGrain.Reserve))!));
        Assert.False(HostInternalCallFilter.IsHostInternal(typeof(IHostGrain).GetMethod(nameof(IHostGrain.Cordon))!));
    }
}
