using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Networking;

public sealed partial class LinuxHostNetworks
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: {Kind} {Device} made")]
    private partial void LogDeviceMade(string network, string kind, string device);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: {Kind} {Device} removed")]
    private partial void LogDeviceRemoved(string network, string kind, string device);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: flood entries added for {Added}, removed for {Removed}")]
    private partial void LogPeersChanged(string network, IEnumerable<string> added, IEnumerable<string> removed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: dnsmasq started, pid {Pid} ({Reason})")]
    private partial void LogDnsmasqStarted(string network, int pid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: dnsmasq (pid {Pid}) reloaded {Count} reservations")]
    private partial void LogDnsmasqReloaded(string network, int pid, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Network {Network}: dnsmasq (pid {Pid}) stopped ({Reason})")]
    private partial void LogDnsmasqStopped(string network, int pid, string reason);
}
