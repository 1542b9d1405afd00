using System.Net;
using System.Net.Sockets;

namespace Fabric.TestSupport;

/// <summary>Free TCP ports on loopback, so parallel test runs never collide.</summary>
public static class Ports
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
