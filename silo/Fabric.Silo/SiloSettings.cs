using System.Globalization;
using System.Net;
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

    /// <summary>The Redis connection string, or null for development mode (localhost clustering, in-memory storage).</summary>
    public string? Redis { get; init; }

    /// <summary>The Orleans cluster id: which silos form one cluster (may change between deployments).</summary>
    public required string ClusterId { get; init; }

    /// <summary>The Orleans service id: names the persisted state (grain state, ledger, catalog); stable for the life of the fabric.</summary>
    public required string ServiceId { get; init; }

    /// <summary>The address the silo listens on and advertises to the other silos and to clients (loopback by default).</summary>
    public required IPAddress Address { get; init; }

    public required int SiloPort { get; init; }

    public required int GatewayPort { get; init; }

    /// <summary>The port the REST API listens on at <see cref="Address"/> (<c>Fabric:Api:Port</c>, 8080 by default).</summary>
    public required int ApiPort { get; init; }

    /// <summary>
    /// The port of the API's HTTPS listener, which also accepts client certificates (<c>Fabric:Api:TlsPort</c>; none
    /// by default); it needs <see cref="ApiCertificateFile"/> and <see cref="ApiKeyFile"/>.
    /// </summary>
    public int? ApiTlsPort { get; init; }

    /// <summary>The HTTPS listener's certificate (PEM, <c>Fabric:Api:CertificateFile</c>).</summary>
    public string? ApiCertificateFile { get; init; }

    /// <summary>Its private key (PEM, <c>Fabric:Api:KeyFile</c>; a file only the silo's user reads).</summary>
    public string? ApiKeyFile { get; init; }

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
            Redis = section["Redis"] is { Length: > 0 } redis ? redis : null,
            ClusterId = Names.Require("Fabric:ClusterId", section["ClusterId"] ?? "fabric"),
            ServiceId = Names.Require("Fabric:ServiceId", section["ServiceId"] ?? "fabric"),
            Address = ParseAddress(section, "Address"),
            SiloPort = ParsePort(section, "SiloPort", 11111),
            GatewayPort = ParsePort(section, "GatewayPort", 30000),
            ApiPort = ParsePort(section, "Api:Port", 8080),
            ApiTlsPort = section["Api:TlsPort"] is { Length: > 0 } ? ParsePort(section, "Api:TlsPort", 0) : null,
            ApiCertificateFile = RequireFileWithTls(section, "Api:CertificateFile"),
            ApiKeyFile = RequireFileWithTls(section, "Api:KeyFile"),
            FailureDetection = ParseEnum<FailureDetectionMode>(section, "FailureDetection", FailureDetectionMode.Tuned),
        };
    }

    /// <summary>A file the HTTPS listener needs: required (and must exist) when <c>Fabric:Api:TlsPort</c> is set.</summary>
    private static string? RequireFileWithTls(IConfigurationSection section, string key)
    {
        if (section["Api:TlsPort"] is not { Length: > 0 })
        {
            return null;
        }

        var path = section[key];
        return path is { Length: > 0 } && File.Exists(path)
            ? Path.GetFullPath(path)
            : throw FabricException.InvalidSpec($"Fabric:{key}", path is { Length: > 0 } ? $"'{Names.Printable(path)}' does not exist" : "is required with Fabric:Api:TlsPort");
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
