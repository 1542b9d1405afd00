using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>How to reach a fabric: through Redis clustering (a real cluster) or a local development silo's gateway.</summary>
public sealed record FabricConnection
{
    /// <summary>The Redis connection string of the cluster; null for a development silo on localhost.</summary>
    public string? Redis { get; init; }

    /// <summary>A file holding Redis's password (<c>.fabric/redis.password</c>); null when Redis asks for none.</summary>
    public string? RedisPasswordFile { get; init; }

    /// <summary>
    /// The client's TLS identity: the fabric's CA bundle and a certificate it signed (clientAuth). The silos' gateways
    /// and Redis are reached over TLS with it; null only for a development silo without TLS.
    /// </summary>
    public FabricTls? Tls { get; init; }

    public string ClusterId { get; init; } = "fabric";

    /// <summary>The fabric's service id (stable for its life; the silos' <c>Fabric:ServiceId</c>).</summary>
    public string ServiceId { get; init; } = "fabric";

    /// <summary>The gateway port of a development silo (used only without <see cref="Redis"/>).</summary>
    public int GatewayPort { get; init; } = 30000;

    /// <summary>
    /// How long connecting may take before it fails with <c>unavailable</c> (the Orleans client alone would keep
    /// retrying an unreachable gateway for minutes).
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long one call may take before it fails with <c>unavailable</c>.</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The connection described by the environment: <c>FABRIC_REDIS</c>, <c>FABRIC_REDIS_PASSWORD_FILE</c>,
    /// <c>FABRIC_CLUSTER_ID</c>, <c>FABRIC_SERVICE_ID</c>, <c>FABRIC_GATEWAY_PORT</c>, and TLS from
    /// <c>FABRIC_CA_FILE</c>, <c>FABRIC_CERT_FILE</c>, <c>FABRIC_KEY_FILE</c> (all three, or none).
    /// </summary>
    public static FabricConnection FromEnvironment()
    {
        string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
        var tls = (Variable("FABRIC_CA_FILE"), Variable("FABRIC_CERT_FILE"), Variable("FABRIC_KEY_FILE")) switch
        {
            (null, null, null) => null,
            ({ } ca, { } certificate, { } key) => new FabricTls(ca, certificate, key),
            _ => throw FabricException.InvalidSpec("FABRIC_CERT_FILE", "FABRIC_CA_FILE, FABRIC_CERT_FILE and FABRIC_KEY_FILE go together"),
        };
        var connection = new FabricConnection
        {
            Redis = Variable("FABRIC_REDIS"),
            RedisPasswordFile = Variable("FABRIC_REDIS_PASSWORD_FILE"),
            Tls = tls,
            ClusterId = Environment.GetEnvironmentVariable("FABRIC_CLUSTER_ID") is { Length: > 0 } cluster ? cluster : "fabric",
            ServiceId = Environment.GetEnvironmentVariable("FABRIC_SERVICE_ID") is { Length: > 0 } service ? service : "fabric",
        };
        if (Environment.GetEnvironmentVariable("FABRIC_GATEWAY_PORT") is { Length: > 0 } port)
        {
            connection = connection with
            {
                GatewayPort = int.TryParse(port, out var value) && value is > 0 and < 65536
                    ? value
                    : throw FabricException.InvalidSpec("FABRIC_GATEWAY_PORT", $"'{Names.Printable(port)}' is not a TCP port"),
            };
        }

        return connection;
    }
}
