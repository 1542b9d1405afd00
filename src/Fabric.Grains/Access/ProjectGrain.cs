using System.Text.Json.Serialization;
using Fabric.Contracts;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Access;

/// <summary>
/// One project (<see cref="IProjectGrain"/>): its quota and what each of its VMs is charged. Requests run one at a time
/// (not reentrant), and a charge is checked against the quota and written before it is answered, so racing creates can
/// never take a project past its quota. VM grains charge and refund it; it calls only the project directory, never a VM.
/// The charges are rows of their own (<see cref="IProjectCharges"/>), loaded at activation and summed in memory; the
/// grain's state holds only whether the project exists, its quota and when it was created.
/// </summary>
internal sealed partial class ProjectGrain(
    [PersistentState("project", FabricPersistence.Name)] IPersistentState<ProjectRecord> state,
    IProjectCharges charges,
    TimeProvider time,
    ILogger<ProjectGrain> logger) : Grain, IProjectGrain
{
    private Dictionary<string, ChargeRow> _charges = new(StringComparer.Ordinal);
    private ProjectUsage _usage = new();

    /// <summary>A write failed with an unknown effect on the store: read the record and the charges again before the next request.</summary>
    private bool _mustReload;

    private string Name => this.GetPrimaryKeyString();

    private ProjectRecord Record => state.State;

    /// <summary>The default project exists before anyone creates it, and for ever.</summary>
    private bool Exists => Record.Created || Name == ProjectInfo.Default;

    public override Task OnActivateAsync(CancellationToken cancellationToken) => LoadChargesAsync();

    async Task<ProjectInfo> IProjectGrain.Create(ProjectQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        Names.Require("project", Name);
        quota = quota.Validate();
        await ReloadIfNeededAsync();
        if (Exists)
        {
            throw FabricException.Conflict($"project '{Name}' already exists");
        }

        // Listed first, written second: the directory may name a project that does not exist (its listing skips it),
        // never miss one that does.
        await Directory.Add(Name);
        await WriteAsync(new ProjectRecord { Created = true, Quota = QuotaRow.From(quota), CreatedAt = time.GetUtcNow() });
        LogCreated(Name);
        return Info();
    }

    Task<ProjectInfo> IProjectGrain.Get()
    {
        RequireExists();
        return Task.FromResult(Info());
    }

    async Task<ProjectInfo> IProjectGrain.SetQuota(ProjectQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        quota = quota.Validate();
        await ReloadIfNeededAsync();
        RequireExists();
        await WriteAsync(new ProjectRecord { Created = true, Quota = QuotaRow.From(quota), CreatedAt = CreatedAtOrNow });
        LogQuotaSet(Name, quota.Vms, quota.VCpus, quota.MemoryMiB);
        return Info();
    }

    async Task IProjectGrain.Delete()
    {
        await ReloadIfNeededAsync();
        if (Name == ProjectInfo.Default)
        {
            throw FabricException.Conflict($"project '{ProjectInfo.Default}' always exists; it cannot be deleted");
        }

        RequireExists();
        if (_charges.Count > 0)
        {
            var vms = _charges.Keys.Order(StringComparer.Ordinal).ToList();
            throw FabricException.Conflict($"project '{Name}' has {vms.Count} VM(s) (vm {string.Join(", ", vms.Take(5))}{(vms.Count > 5 ? ", …" : "")}); delete them first");
        }

        // Written first, unlisted second: the directory never misses a project that exists.
        await WriteAsync(new ProjectRecord());
        await Directory.Remove(Name);
        LogDeleted(Name);
    }

    async Task IProjectGrain.Charge(string vm, int vcpus, int memoryMiB)
    {
        Names.Require("vm", vm);
        if (vcpus < 0)
        {
            throw FabricException.InvalidSpec("vcpus", $"{vcpus} is negative");
        }

        if (memoryMiB < 0)
        {
            throw FabricException.InvalidSpec("memoryMiB", $"{memoryMiB} is negative");
        }

        await ReloadIfNeededAsync();
        RequireExists();
        var charge = new ChargeRow { VCpus = vcpus, MemoryMiB = memoryMiB };
        var held = _charges.GetValueOrDefault(vm);
        if (held == charge)
        {
            return;
        }

        // A VM charged again with other sizes (a create retried after a refund that did not land) replaces its charge.
        Record.Quota.ToQuota().RequireRoom(Name, held is null ? _usage : Without(_usage, held), vcpus, memoryMiB);
        if (!Record.Created)
        {
            // The default project's first charge: from now on it has a record, and a creation time.
            await WriteAsync(new ProjectRecord { Created = true, Quota = Record.Quota, CreatedAt = time.GetUtcNow() });
        }

        await StoreAsync(() => charges.SaveAsync(Name, vm, charge), vm);
        _charges[vm] = charge;
        _usage = With(held is null ? _usage : Without(_usage, held), charge);
    }

    async Task IProjectGrain.Refund(string vm)
    {
        Names.Require("vm", vm);
        await ReloadIfNeededAsync();
        if (!_charges.TryGetValue(vm, out var held))
        {
            return;
        }

        await StoreAsync(() => charges.RemoveAsync(Name, vm), vm);
        _charges.Remove(vm);
        _usage = Without(_usage, held);
    }

    private DateTimeOffset CreatedAtOrNow => Record.Created ? Record.CreatedAt : time.GetUtcNow();

    private ProjectInfo Info() => new()
    {
        Name = Name,
        Quota = Record.Quota.ToQuota(),
        Usage = _usage,
        CreatedAt = Record.CreatedAt,
    };

    private static ProjectUsage With(ProjectUsage usage, ChargeRow charge) =>
        new() { Vms = usage.Vms + 1, VCpus = usage.VCpus + charge.VCpus, MemoryMiB = usage.MemoryMiB + charge.MemoryMiB };

    private static ProjectUsage Without(ProjectUsage usage, ChargeRow charge) =>
        new() { Vms = usage.Vms - 1, VCpus = usage.VCpus - charge.VCpus, MemoryMiB = usage.MemoryMiB - charge.MemoryMiB };

    private void RequireExists()
    {
        if (!Exists)
        {
            throw FabricException.NotFound("project", Name);
        }
    }

    private IProjectDirectoryGrain Directory => GrainFactory.GetGrain<IProjectDirectoryGrain>(IProjectDirectoryGrain.Key);

    private async Task LoadChargesAsync()
    {
        _charges = new Dictionary<string, ChargeRow>(await charges.LoadAsync(Name), StringComparer.Ordinal);
        _usage = _charges.Values.Aggregate(new ProjectUsage(), With);
    }

    private async Task ReloadIfNeededAsync()
    {
        if (!_mustReload)
        {
            return;
        }

        try
        {
            await state.ReadStateAsync();
            await LoadChargesAsync();
            _mustReload = false;
        }
        catch (Exception ex)
        {
            throw FabricException.Unavailable($"project '{Name}': its record cannot be read ({ex.Message})");
        }
    }

    private async Task WriteAsync(ProjectRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"project '{Name}': its record could not be written ({failure.Message}); nothing was changed");
        }
    }

    /// <summary>Writes one charge row; a failure leaves the charges in memory as they were (and read again before the next request).</summary>
    private async Task StoreAsync(Func<Task> write, string vm)
    {
        try
        {
            await write();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"project '{Name}': the charge of vm '{vm}' could not be written ({ex.Message}); nothing was changed");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Project {Project} created")]
    private partial void LogCreated(string project);

    [LoggerMessage(Level = LogLevel.Information, Message = "Project {Project}: quota set to vms {Vms}, vcpus {VCpus}, memory {MemoryMiB} MiB (empty: unlimited)")]
    private partial void LogQuotaSet(string project, int? vms, int? vCpus, long? memoryMiB);

    [LoggerMessage(Level = LogLevel.Information, Message = "Project {Project} deleted")]
    private partial void LogDeleted(string project);
}

/// <summary>A project's persisted record (grain state <c>project</c>, stored format version 1); its charges are rows of their own.</summary>
[GenerateSerializer, Alias("fabric.ProjectRecord")]
public sealed class ProjectRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    [Id(1), JsonPropertyName("created")]
    public bool Created { get; set; }

    [Id(2), JsonPropertyName("quota")]
    public QuotaRow Quota { get; set; } = new();

    [Id(3), JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A project's quota as stored; null is unlimited.</summary>
[GenerateSerializer, Immutable, Alias("fabric.QuotaRow")]
public sealed record QuotaRow
{
    [Id(0), JsonPropertyName("vms")]
    public int? Vms { get; init; }

    [Id(1), JsonPropertyName("vcpus")]
    public int? VCpus { get; init; }

    [Id(2), JsonPropertyName("memoryMiB")]
    public long? MemoryMiB { get; init; }

    public static QuotaRow From(ProjectQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        return new QuotaRow { Vms = quota.Vms, VCpus = quota.VCpus, MemoryMiB = quota.MemoryMiB };
    }

    public ProjectQuota ToQuota() => new() { Vms = Vms, VCpus = VCpus, MemoryMiB = MemoryMiB };
}
