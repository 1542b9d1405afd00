using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Fabric.Contracts;

/// <summary>
/// Limits of a project; a null limit is unlimited. Enforced atomically when a VM is created (a create that would go
/// past one fails with <c>insufficient-quota</c> naming it), never by overshooting and correcting later.
/// </summary>
[GenerateSerializer, Immutable, Alias("fabric.ProjectQuota")]
public sealed record ProjectQuota
{
    public static readonly ProjectQuota Unlimited = new();

    [Id(0)]
    public int? Vms { get; init; }

    [Id(1)]
    public int? VCpus { get; init; }

    [Id(2)]
    public long? MemoryMiB { get; init; }

    /// <summary>Returns the quota or throws <c>invalid-spec</c> naming a negative limit.</summary>
    public ProjectQuota Validate()
    {
        if (Vms < 0)
        {
            throw FabricException.InvalidSpec("quota.vms", $"{Vms} is negative");
        }

        if (VCpus < 0)
        {
            throw FabricException.InvalidSpec("quota.vcpus", $"{VCpus} is negative");
        }

        if (MemoryMiB < 0)
        {
            throw FabricException.InvalidSpec("quota.memoryMiB", $"{MemoryMiB} is negative");
        }

        return this;
    }

    /// <summary>
    /// Throws <c>insufficient-quota</c> naming the first limit (<c>vms</c>, <c>vcpus</c>, <c>memory</c>) that one more VM
    /// of <paramref name="vcpus"/> and <paramref name="memoryMiB"/> would pass, with <paramref name="inUse"/> held already.
    /// </summary>
    public void RequireRoom(string project, ProjectUsage inUse, int vcpus, long memoryMiB)
    {
        ArgumentNullException.ThrowIfNull(inUse);
        if (Vms is { } vms && inUse.Vms + 1L > vms)
        {
            throw FabricException.InsufficientQuota($"project '{project}' quota vms: {inUse.Vms} in use + 1 asked > {vms}");
        }

        if (VCpus is { } cpus && (long)inUse.VCpus + vcpus > cpus)
        {
            throw FabricException.InsufficientQuota($"project '{project}' quota vcpus: {inUse.VCpus} in use + {vcpus} asked > {cpus}");
        }

        if (MemoryMiB is { } memory && inUse.MemoryMiB + memoryMiB > memory)
        {
            throw FabricException.InsufficientQuota($"project '{project}' quota memory: {inUse.MemoryMiB} MiB in use + {memoryMiB} MiB asked > {memory} MiB");
        }
    }
}

/// <summary>What a project's VMs hold against its quota.</summary>
[GenerateSerializer, Immutable, Alias("fabric.ProjectUsage")]
public sealed record ProjectUsage
{
    [Id(0)]
    public int Vms { get; init; }

    [Id(1)]
    public int VCpus { get; init; }

    [Id(2)]
    public long MemoryMiB { get; init; }
}

/// <summary>A project: the unit of ownership, access and quota. Every VM belongs to exactly one.</summary>
[GenerateSerializer, Immutable, Alias("fabric.ProjectInfo")]
public sealed record ProjectInfo
{
    /// <summary>The project every VM created without one belongs to; it always exists.</summary>
    public const string Default = "default";

    [Id(0)]
    public required string Name { get; init; }

    [Id(1)]
    public ProjectQuota Quota { get; init; } = ProjectQuota.Unlimited;

    [Id(2)]
    public ProjectUsage Usage { get; init; } = new();

    [Id(3)]
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>One project (key = its name): its quota and the VMs charged to it.</summary>
[Alias("fabric.IProjectGrain")]
public interface IProjectGrain : IGrainWithStringKey
{
    /// <summary>Creates the project; <c>conflict</c> if it exists (the default project always exists).</summary>
    [Alias("Create")]
    Task<ProjectInfo> Create(ProjectQuota quota);

    /// <summary>The project, or <c>not-found</c>.</summary>
    /// <remarks>Interleaved: the directory's listing asks every project, including one waiting on the directory.</remarks>
    [AlwaysInterleave, Alias("Get")]
    Task<ProjectInfo> Get();

    /// <summary>Replaces the project's quota. A quota below the current usage is allowed: it only refuses new VMs.</summary>
    [Alias("SetQuota")]
    Task<ProjectInfo> SetQuota(ProjectQuota quota);

    /// <summary>Deletes the project; <c>conflict</c> naming its VMs while it has any; the default project is never deleted.</summary>
    [Alias("Delete")]
    Task Delete();

    /// <summary>
    /// Charges VM <paramref name="vm"/> to the project, or throws <c>insufficient-quota</c> naming the limit it would pass
    /// (<c>not-found</c> when the project does not exist). Idempotent per VM: a repeated charge is not counted twice.
    /// </summary>
    [Alias("Charge"), HostInternal]
    Task Charge(string vm, int vcpus, int memoryMiB);

    /// <summary>Removes VM <paramref name="vm"/>'s charge; a VM never charged is ignored.</summary>
    [Alias("Refund"), HostInternal]
    Task Refund(string vm);
}

/// <summary>Every project, by name (a single grain, key 0).</summary>
[Alias("fabric.IProjectDirectoryGrain")]
public interface IProjectDirectoryGrain : IGrainWithIntegerKey
{
    public const long Key = 0;

    /// <summary>The most projects a fabric holds (besides the default one).</summary>
    public const int MaxProjects = 1024;

    [Alias("List")]
    Task<ImmutableArray<ProjectInfo>> List();

    [Alias("Add"), HostInternal]
    Task Add(string project);

    [Alias("Remove"), HostInternal]
    Task Remove(string project);
}
