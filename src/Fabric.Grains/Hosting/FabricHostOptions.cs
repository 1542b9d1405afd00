using Fabric.Contracts;

namespace Fabric.Grains.Hosting;

/// <summary>What this silo serves: which hosts, with which capacity and labels. Bound from configuration section <c>Fabric</c>.</summary>
public sealed class FabricHostOptions
{
    public const string Section = "Fabric";

    /// <summary>The host ids this silo serves. A real host silo serves exactly one (its machine); a simulation silo serves many.</summary>
    public List<string> HostIds { get; } = [];

    /// <summary>vCPUs offered before overcommit; 0 means the machine's logical CPUs.</summary>
    public int VCpus { get; set; }

    /// <summary>Memory offered before overcommit; 0 means the machine's memory minus <see cref="ReservedMemoryMiB"/>.</summary>
    public long MemoryMiB { get; set; }

    /// <summary>Memory kept for the host itself when <see cref="MemoryMiB"/> is derived from the machine.</summary>
    public long ReservedMemoryMiB { get; set; } = 1024;

    public double CpuOvercommit { get; set; } = 4;

    public double MemoryOvercommit { get; set; } = 1;

    /// <summary>Migrations this host sends at once; more wait their turn.</summary>
    public int MaxOutgoingMigrations { get; set; } = 2;

    /// <summary>Migrations this host receives at once; more wait their turn.</summary>
    public int MaxIncomingMigrations { get; set; } = 2;

    public Dictionary<string, string> Labels { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The identity of the machine this silo runs on (machine-id, or the Kubernetes node). A host id is bound to the
    /// first machine that serves it.
    /// </summary>
    public string MachineId { get; set; } = "";

    /// <summary>Validates the options, throwing <c>invalid-spec</c> naming the setting at fault.</summary>
    public void Validate()
    {
        if (HostIds.Count == 0)
        {
            throw FabricException.InvalidSpec("Fabric:HostIds", "at least one host id is required (e.g. Fabric__HostIds__0=host-a)");
        }

        foreach (var (id, index) in HostIds.Select((id, index) => (id, index)))
        {
            Names.Require($"Fabric:HostIds:{index}", id);
        }

        if (HostIds.Distinct(StringComparer.Ordinal).Count() != HostIds.Count)
        {
            throw FabricException.InvalidSpec("Fabric:HostIds", "lists a host id twice");
        }

        if (VCpus < 0)
        {
            throw FabricException.InvalidSpec("Fabric:VCpus", $"{VCpus} is negative");
        }

        if (MemoryMiB < 0)
        {
            throw FabricException.InvalidSpec("Fabric:MemoryMiB", $"{MemoryMiB} is negative");
        }

        if (CpuOvercommit is < 1 or > 64 || double.IsNaN(CpuOvercommit))
        {
            throw FabricException.InvalidSpec("Fabric:CpuOvercommit", $"{CpuOvercommit} is out of range 1–64");
        }

        if (MaxOutgoingMigrations is < 1 or > 64 || MaxIncomingMigrations is < 1 or > 64)
        {
            throw FabricException.InvalidSpec("Fabric:MaxOutgoingMigrations", $"migration limits must be 1–64 (outgoing {MaxOutgoingMigrations}, incoming {MaxIncomingMigrations})");
        }

        if (MemoryOvercommit is < 1 or > 4 || double.IsNaN(MemoryOvercommit))
        {
            throw FabricException.InvalidSpec("Fabric:MemoryOvercommit", $"{MemoryOvercommit} is out of range 1–4");
        }

        Contracts.Labels.Require("Fabric:Labels", Labels);
        if (string.IsNullOrWhiteSpace(MachineId) || MachineId.Length > 253 || MachineId.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw FabricException.InvalidSpec("Fabric:MachineId", $"'{Names.Printable(MachineId)}' is not a machine identity (1–253 printable characters, no spaces)");
        }
    }
}

/// <summary>Cluster-wide scheduling settings (configuration section <c>Fabric:Scheduler</c>).</summary>
public sealed class SchedulerOptions
{
    public const string Section = "Fabric:Scheduler";

    /// <summary>The policy for VMs that do not choose one: pack or spread.</summary>
    public PlacementPolicy DefaultPolicy { get; set; } = PlacementPolicy.Spread;

    /// <summary>How often the scheduler writes its inventory (last known host summaries) when it changed.</summary>
    public TimeSpan InventoryWriteInterval { get; set; } = TimeSpan.FromSeconds(5);
}
