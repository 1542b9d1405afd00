namespace Fabric.Hypervisor.Networking;

/// <summary>How <see cref="LinuxHostNetworks"/> realizes networks on its host.</summary>
public sealed class HostNetworksOptions
{
    /// <summary>
    /// The host's data directory (absolute); each network's dnsmasq files go in <c>networks/&lt;vni6&gt;/</c> under it.
    /// dnsmasq runs as <c>nobody</c> and re-reads its reservations from there, so every folder above must be searchable
    /// by others (mode <c>o+x</c>).
    /// </summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>
    /// The named network namespace (<c>/run/netns/NAME</c>) to realize networks in, every command run under
    /// <c>nsenter --net</c>; null (the default) for the namespace this process runs in, which is where a host silo
    /// already is.
    /// </summary>
    public string? Namespace { get; set; }
}
