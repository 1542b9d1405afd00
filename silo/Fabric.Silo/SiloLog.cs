
namespace Fabric.Silo;

internal static partial class SiloLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "DEVELOPMENT MODE: no Fabric:Redis configured; localhost clustering and in-memory storage, nothing survives this process")]
    public static partial void DevelopmentMode(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DEVELOPMENT MODE: no Fabric:Tls configured; Orleans and the API (HTTP, not HTTPS) speak plaintext, so this silo must stay on loopback")]
    public static partial void NoTls(ILogger logger);

    // The address and file names only: the password and keys stay in their files.
    [LoggerMessage(Level = LogLevel.Information, Message = "Fabric silo starting: hosts [{Hosts}], driver {Driver}, address {Address} (silo port {SiloPort}, gateway port {GatewayPort}, API port {ApiPort}), data {DataDirectory}, redis {Redis} (password {RedisPassword}), TLS certificate {Certificate}")]
    public static partial void Starting(ILogger logger, IEnumerable<string> hosts, DriverKind driver, System.Net.IPAddress address, int siloPort, int gatewayPort, int apiPort, string dataDirectory, string redis, string redisPassword, string certificate);
}
