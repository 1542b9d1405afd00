namespace Fabric.Grains.Hosting;

/// <summary>
/// How often the control plane compares what should run with what does (configuration section
/// <c>Fabric:Reconcile</c>). See docs/reconciliation.md.
/// </summary>
public sealed class ReconcileOptions
{
    public const string Section = "Fabric:Reconcile";

    /// <summary>How often a host reports to its VMs: those whose process changed, and one slice of the rest.</summary>
    public TimeSpan DigestInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Into how many slices a host's VMs are cut: each hears from its host at least every interval × slices.</summary>
    public int DigestSlices { get; set; } = 6;

    /// <summary>How often a VM with a request under way (Starting, Stopping) asks its host how it stands.</summary>
    public TimeSpan PendingCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long after a start a host that holds another instance may still receive it (the call's own timeout and
    /// message lifetime are 30 s); after this, that answer returns the VM to the state it started from.
    /// </summary>
    public TimeSpan StartDeadline { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>After a stop's grace period, how long quitting and killing may take before the stop is asked again, forced.</summary>
    public TimeSpan StopMargin { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the catalog auditor compares the catalog with the hosts' ledgers.</summary>
    public TimeSpan AuditInterval { get; set; } = TimeSpan.FromSeconds(60);

    public void Validate()
    {
        Positive("DigestInterval", DigestInterval);
        Positive("PendingCheckInterval", PendingCheckInterval);
        Positive("StartDeadline", StartDeadline);
        Positive("StopMargin", StopMargin);
        Positive("AuditInterval", AuditInterval);
        if (DigestSlices is < 1 or > 1000)
        {
            throw Contracts.FabricException.InvalidSpec($"{Section}:DigestSlices", $"{DigestSlices} is out of range 1–1000");
        }
    }

    private static void Positive(string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            throw Contracts.FabricException.InvalidSpec($"{Section}:{name}", $"{value} is not a positive duration");
        }
    }
}
