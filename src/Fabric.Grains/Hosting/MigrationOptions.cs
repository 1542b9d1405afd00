namespace Fabric.Grains.Hosting;

/// <summary>The deadlines and watchdogs of live migration (configuration section <c>Fabric:Migration</c>). See docs/migration.md.</summary>
public sealed class MigrationOptions
{
    public const string Section = "Fabric:Migration";

    /// <summary>How often a migration under way looks at its two sides.</summary>
    public TimeSpan StepInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a migration may wait for slots (outgoing on its source, incoming on a target) before it fails.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the target's paused, incoming QEMU may take to start and listen.</summary>
    public TimeSpan PrepareTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The watchdog: a pre-copy whose remaining data has not dropped for this long is aborted.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The completion budget per GiB of guest RAM; past it, post-copy when allowed, else abort.</summary>
    public TimeSpan BudgetPerGiB { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The least completion budget, however small the guest.</summary>
    public TimeSpan MinimumBudget { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long the target may take to report the whole VM received once the source has sent it.</summary>
    public TimeSpan SwitchOverTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a side may stay unreachable (its silo Down) before a migration that has not committed is aborted.</summary>
    public TimeSpan UnreachableTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Fault injection, for tests only: while this file exists and names a phase (e.g. <c>Transferring</c>), every
    /// migration reaching that phase stays in it — a barrier a test removes once it has injected its fault. Unset in
    /// production.
    /// </summary>
    public string? HoldFile { get; set; }

    public void Validate()
    {
        foreach (var (name, value) in new[]
        {
            ("StepInterval", StepInterval), ("QueueTimeout", QueueTimeout), ("PrepareTimeout", PrepareTimeout), ("StallTimeout", StallTimeout),
            ("BudgetPerGiB", BudgetPerGiB), ("MinimumBudget", MinimumBudget), ("SwitchOverTimeout", SwitchOverTimeout), ("UnreachableTimeout", UnreachableTimeout),
        })
        {
            if (value <= TimeSpan.Zero)
            {
                throw Contracts.FabricException.InvalidSpec($"{Section}:{name}", $"must be positive, not {value}");
            }
        }
    }

    /// <summary>The completion budget for a guest of <paramref name="memoryMiB"/>.</summary>
    public TimeSpan BudgetFor(long memoryMiB)
    {
        var budget = BudgetPerGiB * (memoryMiB / 1024.0);
        return budget > MinimumBudget ? budget : MinimumBudget;
    }
}
