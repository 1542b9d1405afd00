using System.Globalization;
using System.Net;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Grains.Hosting;
using Fabric.Hypervisor.Accel;
using Fabric.Hypervisor.Qemu;

namespace Fabric.Silo;

/// <summary>Which driver a silo's hosts use.</summary>
public enum DriverKind
{
    /// <summary>Real QEMU processes on this machine (one host per silo).</summary>
    Qemu,

    /// <summary>The fleet-scale SIMULATION: no guests run (many hosts per silo allowed).</summary>
    Simulated,
}

/// <summary>
/// The silo's configuration (section <c>Fabric</c>, from appsettings.json and <c>Fabric__*</c> environment variables),
/// validated at start-up with errors naming the setting.
/// </summary>
public sealed class SiloSettings
{
    public required FabricHostOptions Host { get; init; }

    public required DriverKind Driver { get; init; }

    public required string DataDirectory { get; init; }

    public required string ImagesDirectory { get; init; }

    public required AcceleratorMode Accelerator { get; init; }

    /// <summary>The QEMU program (a path, or a name looked up on PATH); tests use a wrapper that delays the launch.</summary>
    public required string QemuBinary { get; init; }

    /// <summary>The most console output kept on disk per VM (<c>Fabric:ConsoleLogLimit</c>, e.g. <c>16Mi</c>).</summary>
    public required long ConsoleLogLimitBytes { get; init; }

    /// <summary>
    /// Test/diagnostic override only (<c>Fabric:Confinement:MemoryLimitOverrideMiB</c>): the cgroup memory limit of every
    /// VM's QEMU instead of its RAM plus QEMU's overhead, to watch the out-of-memory killer at work. Unset in production.
    /// </summary>
    public long? MemoryLimitOverrideMiB { get; init; }

    /// <summary>
    /// Whether the host realizes virtual networks (<c>Fabric:Networks</c>: <c>on</c> or <c>off</c>, the default): only a
    /// silo in a network namespace of its own (a machine's, or a host namespace of the local topology) may make bridges,
    /// taps and VXLAN devices where it runs.
    /// </summary>
    public required bool Networks { get; init; }

    /// <summary>Redis's address (<c>host:port</c>), or null for development mode (localhost clustering, in-memory storage).</summary>
    public string? Redis { get; init; }

    /// <summary>A file holding Redis's password (<c>Fabric:Redis:PasswordFile</c>, mode 0600); read at start-up, never logged.</summary>
    public string? RedisPasswordFile { get; init; }

    /// <summary>
    /// The silo's TLS identity (<c>Fabric:Tls:CaFile</c>, <c>CertificateFile</c>, <c>KeyFile</c>): Orleans silo-to-silo
    /// and gateway connections, the API's HTTPS and Redis use it. Required with <see cref="Redis"/>; a development silo
    /// may run without it, in plaintext on loopback.
    /// </summary>
    public FabricTls? Tls { get; init; }

    /// <summary>The Orleans cluster id: which silos form one cluster (may change between deployments).</summary>
    public required string ClusterId { get; init; }

    /// <summary>The Orleans service id: names the persisted state (grain state, ledger, catalog); stable for the life of the fabric.</summary>
    public required string ServiceId { get; init; }

    /// <summary>The address the silo listens on and advertises to the other silos and to clients (loopback by default).</summary>
    public required IPAddress Address { get; init; }

    public required int SiloPort { get; init; }

    public required int GatewayPort { get; init; }

    /// <summary>The port the REST API serves HTTPS on at <see cref="Address"/> (<c>Fabric:Api:Port</c>, 8080 by default).</summary>
    public required int ApiPort { get; init; }

    public required FailureDetectionMode FailureDetection { get; init; }

    public static SiloSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(FabricHostOptions.Section);
        var host = new FabricHostOptions();
        section.Bind(host);

        // One host per silo is the common case: Fabric:HostId is shorthand for Fabric:HostIds:0.
        if (section["HostId"] is { Length: > 0 } hostId && !host.HostIds.Contains(hostId))
        {
            host.HostIds.Insert(0, hostId);
        }

        host.MachineId = section["MachineId"] is { Length: > 0 } machine ? machine : MachineIdentity.Read();
        var driver = ParseEnum<DriverKind>(section, "Driver", DriverKind.Qemu);
        if (driver == DriverKind.Simulated && int.TryParse(section["Simulation:HostCount"], CultureInfo.InvariantCulture, out var count) && count > 0)
        {
            var prefix = section["Simulation:HostPrefix"] ?? "sim-";
            host.HostIds.AddRange(Enumerable.Range(0, count).Select(i => $"{prefix}{i:D3}"));
        }

        host.Validate();
        if (driver == DriverKind.Qemu && host.HostIds.Count != 1)
        {
            throw FabricException.InvalidSpec("Fabric:HostIds", $"a QEMU host silo serves exactly one host (its machine); {host.HostIds.Count} were configured");
        }

        var reconcile = new ReconcileOptions();
        configuration.GetSection(ReconcileOptions.Section).Bind(reconcile);
        reconcile.Validate();

        var redis = section["Redis"] is { Length: > 0 } address ? RequireAddress(address) : null;
        var tls = LoadTls(section, redis is not null);
        var dataDirectory = section["DataDirectory"] is { Length: > 0 } data ? Path.GetFullPath(data) : Path.GetFullPath(".fabric/data/" + host.HostIds[0]);
        return new SiloSettings
        {
            Host = host,
            Driver = driver,
            DataDirectory = dataDirectory,
            ImagesDirectory = section["ImagesDirectory"] is { Length: > 0 } images ? Path.GetFullPath(images) : Path.GetFullPath(".fabric/images"),
            Accelerator = ParseEnum<AcceleratorMode>(section, "Accelerator", AcceleratorMode.Auto),
            QemuBinary = section["QemuBinary"] is { Length: > 0 } qemu ? qemu : "qemu-system-x86_64",
            Networks = ParseSwitch(section, "Networks"),
            ConsoleLogLimitBytes = section["ConsoleLogLimit"] is { Length: > 0 } limit ? Sizes.ParseMiB("Fabric:ConsoleLogLimit", limit) * 1024L * 1024 : new QemuDriverOptions().ConsoleLogLimitBytes,
            MemoryLimitOverrideMiB = section["Confinement:MemoryLimitOverrideMiB"] is { Length: > 0 } memoryLimit
                ? long.TryParse(memoryLimit, NumberStyles.None, CultureInfo.InvariantCulture, out var mib) && mib > 0
                    ? mib
                    : throw FabricException.InvalidSpec("Fabric:Confinement:MemoryLimitOverrideMiB", $"'{memoryLimit}' is not a positive number of MiB")
                : null,
            Redis = redis,
            RedisPasswordFile = section["Redis:PasswordFile"] is { Length: > 0 } passwordFile ? RequireFile(section, "Redis:PasswordFile") : null,
            Tls = tls,
            ClusterId = Names.Require("Fabric:ClusterId", section["ClusterId"] ?? "fabric"),
            ServiceId = Names.Require("Fabric:ServiceId", section["ServiceId"] ?? "fabric"),
            Address = ParseAddress(section, "Address"),
            SiloPort = ParsePort(section, "SiloPort", 11111),
            GatewayPort = ParsePort(section, "GatewayPort", 30000),
            ApiPort = ParsePort(section, "Api:Port", 8080),
            FailureDetection = ParseEnum<FailureDetectionMode>(section, "FailureDetection", FailureDetectionMode.Tuned),
        };
    }

    /// <summary>
    /// <c>Fabric:Redis</c> is an address only: a connection string's options could carry the password, which belongs in
    /// a file (and would be logged with the address).
    /// </summary>
    private static string RequireAddress(string text) =>
        text.Contains(',', StringComparison.Ordinal) || text.Contains('=', StringComparison.Ordinal)
            ? throw FabricException.InvalidSpec("Fabric:Redis", "give host:port only; the password goes in a file named by Fabric:Redis:PasswordFile, TLS comes from Fabric:Tls")
            : text;

    /// <summary>The three TLS files, all or none; none is refused when the silo joins a real cluster (through Redis).</summary>
    private static FabricTls? LoadTls(IConfigurationSection section, bool clustered)
    {
        string[] keys = ["Tls:CaFile", "Tls:CertificateFile", "Tls:KeyFile"];
        var given = keys.Where(k => section[k] is { Length: > 0 }).ToList();
        if (given.Count == 0)
        {
            return clustered
                ? throw FabricException.InvalidSpec("Fabric:Tls:CertificateFile", "is required with Fabric:Redis: a silo of a cluster speaks TLS on every link (Fabric:Tls:CaFile, CertificateFile and KeyFile; docs/tls.md)")
                : null;
        }

        if (given.Count < keys.Length)
        {
            throw FabricException.InvalidSpec($"Fabric:{keys.First(k => !given.Contains(k))}", "is required with the other Fabric:Tls files");
        }

        var tls = new FabricTls(RequireFile(section, keys[0]), RequireFile(section, keys[1]), RequireFile(section, keys[2]));

        // Load once now, so that a bad file stops the start with its name rather than the first connection.
        tls.LoadTrust();
        tls.LoadCertificate().Dispose();
        return tls;
    }

    private static string RequireFile(IConfigurationSection section, string key)
    {
        var path = section[key]!;
        return File.Exists(path) ? Path.GetFullPath(path) : throw FabricException.InvalidSpec($"Fabric:{key}", $"'{Names.Printable(path)}' does not exist");
    }

    private static bool ParseSwitch(IConfigurationSection section, string key) => section[key] switch
    {
        null or "" or "off" => false,
        "on" => true,
        var other => throw FabricException.InvalidSpec($"Fabric:{key}", $"'{Names.Printable(other)}' is not on or off"),
    };

    private static T ParseEnum<T>(IConfigurationSection section, string key, T fallback)
        where T : struct, Enum
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        return Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw FabricException.InvalidSpec($"Fabric:{key}", $"'{text}' is not one of {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
    }

    private static IPAddress ParseAddress(IConfigurationSection section, string key)
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text))
        {
            return IPAddress.Loopback;
        }

        if (!IPAddress.TryParse(text, out var address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            throw FabricException.InvalidSpec($"Fabric:{key}", $"'{Names.Printable(text)}' is not a unicast IP address this silo can advertise");
        }

        return address;
    }

    private static int ParsePort(IConfigurationSection section, string key, int fallback)
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            ? port
            : throw FabricException.InvalidSpec($"Fabric:{key}", $"'{text}' is not a TCP port");
    }
}
