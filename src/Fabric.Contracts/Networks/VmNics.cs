namespace Fabric.Contracts;

/// <summary>A NIC a VM is created with or given: a network, and the address it should have (null: the network picks one).</summary>
[GenerateSerializer, Immutable, Alias("fabric.NicRequest")]
public sealed record NicRequest
{
    [Id(0)]
    public required string Network { get; init; }

    [Id(1)]
    public string? Ip { get; init; }

    /// <summary>Parses <c>NET</c> or <c>NET:IP</c>; throws <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static NicRequest Parse(string field, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':');
        if (parts.Length > 2)
        {
            throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not NET or NET:IP");
        }

        return new NicRequest { Network = parts[0], Ip = parts.Length == 2 ? parts[1] : null }.Validate(field);
    }

    public NicRequest Validate(string field)
    {
        Names.Require($"{field}.network", Network);
        if (Ip is not null)
        {
            Ipv4Cidr.ParseAddress($"{field}.ip", Ip);
        }

        return this;
    }

    public override string ToString() => Ip is null ? Network : $"{Network}:{Ip}";
}

/// <summary>A NIC of a VM (<c>vm get -o json</c>: <c>nics</c>).</summary>
[GenerateSerializer, Immutable, Alias("fabric.VmNic")]
public sealed record VmNic
{
    /// <summary>The most NICs a VM has.</summary>
    public const int MaxPerVm = 8;

    [Id(0)]
    public required string Network { get; init; }

    [Id(1)]
    public required string Ip { get; init; }

    [Id(2)]
    public required string Mac { get; init; }

    /// <summary>Its place on the VM's bus (the guest names NICs in slot order: eth0, eth1, … at boot).</summary>
    [Id(3)]
    public int Slot { get; init; }

    /// <summary>The network's prefix length (the guest's netmask).</summary>
    [Id(4)]
    public int PrefixLength { get; init; }
}

/// <summary>
/// What a network hands a NIC (<see cref="IVirtualNetworkGrain.AllocateNic"/>), and what a host needs to plug it in:
/// the network and its overlay id, the NIC's slot on its VM, its address and MAC, and the MTU.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.NicPlacement")]
public sealed record NicPlacement(
    [property: Id(0)] int Slot,
    [property: Id(1)] string Network,
    [property: Id(2)] int Vni,
    [property: Id(3)] string Ip,
    [property: Id(4)] string Mac,
    [property: Id(5)] int Mtu,
    [property: Id(6)] int PrefixLength)
{
    /// <summary>The NIC's tap on its host: <c>ft</c> and the MAC's last five bytes (VNI and address offset), unique while the NIC exists.</summary>
    public string Tap => "ft" + Mac[3..].Replace(":", "", StringComparison.Ordinal);

    public VmNic ToNic() => new() { Network = Network, Ip = Ip, Mac = Mac, Slot = Slot, PrefixLength = PrefixLength };
}

/// <summary>
/// A VM's NICs changed while it exists, served by the VM's grain beside <see cref="IVmGrain"/>: hot-plug and unplug of
/// a virtio-net device on a running VM (the address is allocated by the network first and freed after the NIC goes).
/// </summary>
[Alias("fabric.IVmNetworks")]
public interface IVmNetworks : IGrainWithStringKey
{
    /// <summary>Gives the VM a NIC on <paramref name="request"/>'s network: hot-plugged when it runs, on its next start otherwise.</summary>
    [Alias("AttachNic")]
    Task<VmInfo> AttachNic(NicRequest request);

    /// <summary>
    /// Unplugs the VM's NIC on <paramref name="request"/>'s network (the one with that address when
    /// <see cref="NicRequest.Ip"/> is given; <c>conflict</c> when the VM has several there and none is named) and frees
    /// its address and MAC.
    /// </summary>
    [Alias("DetachNic")]
    Task<VmInfo> DetachNic(NicRequest request);
}
