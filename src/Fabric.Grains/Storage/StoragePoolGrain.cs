using System.Collections.Immutable;
using Fabric.Contracts;
using Fabric.Grains.HostPinning;
using Fabric.Grains.Persistence;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Storage;

/// <summary>
/// One storage pool (<see cref="IStoragePoolGrain"/>). Requests run one at a time (not reentrant), so a create checks
/// the limit, counts its bytes and writes that before its file is made: two creates can never both take the last
/// room. Reads interleave and never write. Files are made through host grains; nothing here touches a file.
/// </summary>
internal sealed partial class StoragePoolGrain(
    [PersistentState("pool", FabricPersistence.Name)] IPersistentState<PoolRecord> state,
    HostDirectory hosts,
    TimeProvider time,
    ILogger<StoragePoolGrain> logger) : Grain, IStoragePoolGrain
{
    /// <summary>How long a measurement may take before a host's last figure is used instead.</summary>
    private static readonly TimeSpan MeasureTimeout = TimeSpan.FromSeconds(5);

    private const string Linked = "linked";
    private const string Full = "full";

    /// <summary>The last physical use measured per host (or one entry for a shared pool), kept in memory only.</summary>
    private readonly Dictionary<string, long> _used = new(StringComparer.Ordinal);
    private DateTimeOffset? _measuredAt;
    private bool _mustReload;

    private string Name => this.GetPrimaryKeyString();

    private PoolRecord Record => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Record.Exists)
        {
            // Level-triggered: a pool whose directory entry was lost (a crash between the two writes) is listed again.
            await GrainFactory.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).Add(Name);
            await SettleInterruptedAsync();
        }
    }

    async Task<PoolInfo> IStoragePoolGrain.Create(PoolSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await ReloadIfNeededAsync();
        spec = spec.Validate();
        if (spec.Name != Name)
        {
            throw FabricException.InvalidSpec("name", $"'{spec.Name}' does not match the pool being created ('{Name}')");
        }

        if (Record.Exists)
        {
            throw FabricException.Conflict($"pool '{Name}' already exists");
        }

        var location = new PoolLocation(Name, spec.Type, spec.Path);
        var targets = spec.Type == PoolType.Shared ? [AnyHost()] : UpHosts();
        var usages = new List<StorageUsage>();
        foreach (var host in targets)
        {
            usages.Add(await Storage(host).PreparePool(location));
        }

        // A shared pool is one file system; a local pool spans each host's (hosts sharing one file system overstate it).
        var measured = spec.Type == PoolType.Shared ? usages[0].FilesystemBytes : usages.Sum(u => u.FilesystemBytes);
        var next = new PoolRecord
        {
            Type = spec.Type,
            Path = spec.Path,
            CapacityBytes = spec.CapacityBytes ?? measured,
            Overcommit = spec.Overcommit,
            QuotaPerVmBytes = spec.QuotaPerVmBytes,
            CreatedAt = time.GetUtcNow(),
        };
        await WriteAsync(next);
        await GrainFactory.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).Add(Name);
        LogCreated(Name, spec.Type, spec.Path, next.CapacityBytes, next.Overcommit);
        return await MeasureAsync();
    }

    Task<PoolInfo> IStoragePoolGrain.Get()
    {
        RequireExists();
        return MeasureAsync();
    }

    Task<PoolLocation> IStoragePoolGrain.Locate()
    {
        RequireExists();
        return Task.FromResult(Record.Location(Name));
    }

    async Task IStoragePoolGrain.Delete()
    {
        await ReloadIfNeededAsync();
        RequireExists();
        if (!Record.Volumes.IsEmpty || !Record.Images.IsEmpty)
        {
            throw FabricException.Conflict($"pool '{Name}' still holds {Record.Volumes.Count} volume(s) and {Record.Images.Count} image(s); delete them first");
        }

        var location = Record.Location(Name);
        foreach (var host in Record.Type == PoolType.Shared ? [AnyHost()] : UpHosts())
        {
            await Storage(host).RemovePool(location);
        }

        await WriteAsync(new PoolRecord());
        await GrainFactory.GetGrain<IPoolDirectoryGrain>(IPoolDirectoryGrain.Key).Remove(Name);
        LogDeleted(Name);
    }

    async Task<VolumeAttachment> IStoragePoolGrain.CreateVolume(VolumeSpec spec, string? forVm)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await ReloadIfNeededAsync();
        RequireExists();
        spec = spec.Validate();
        if (forVm is not null)
        {
            Names.Require("vm", forVm);
        }

        var volume = spec.Name;
        if (Record.Volumes.ContainsKey(volume))
        {
            throw FabricException.Conflict($"volume '{volume}' already exists in pool '{Name}'");
        }

        if (Record.Volumes.Count >= PoolRecord.MaxVolumes)
        {
            throw FabricException.InsufficientCapacity($"pool '{Name}' holds {PoolRecord.MaxVolumes} volumes, its limit");
        }

        ImageRow? image = null;
        if (spec.Image is { } imageName && !Record.Images.TryGetValue(imageName, out image))
        {
            throw FabricException.NotFound("image", $"{Name}/{imageName}");
        }

        var size = spec.SizeBytes ?? image!.VirtualBytes;
        if (image is not null && size < image.VirtualBytes)
        {
            throw FabricException.InvalidSpec("size", $"{Sizes.FormatBytes(size)} is smaller than image '{spec.Image}' ({Sizes.FormatBytes(image.VirtualBytes)})");
        }

        var host = ChooseHost(spec, image);
        RequireRoom(volume, size, forVm);
        var row = new VolumeRow
        {
            SizeBytes = size,
            State = VolumeState.Creating,
            Host = Record.Type == PoolType.Local ? host : null,
            Image = spec.Image,
            Provisioning = spec.Image is null ? null : spec.Full ? Full : Linked,
            AttachedTo = forVm,
            DeleteWithVm = forVm is not null,
            CreatedAt = time.GetUtcNow(),
        };

        // Counted and written before the file is made: a concurrent create sees these bytes taken.
        await WriteAsync(With(volume, row));
        VolumeFileInfo file;
        try
        {
            file = await Storage(host).CreateVolume(Record.Location(Name), new VolumeFileRequest(volume, size, spec.Image, image?.Format, spec.Full));
        }
        catch
        {
            await WriteAsync(Without(volume));
            throw;
        }

        var ready = row with { State = VolumeState.Ready, SizeBytes = file.VirtualBytes };
        await WriteAsync(With(volume, ready));
        LogVolumeCreated(Name, volume, host, size, row.Provisioning ?? "empty");
        return Attachment(volume, ready, file.PhysicalBytes);
    }

    async Task<VolumeInfo> IStoragePoolGrain.GetVolume(string volume)
    {
        var row = RequireVolume(volume);
        long? physical = null;
        if (row.State == VolumeState.Ready && HostOf(row) is { } host)
        {
            physical = (await TryAsync(() => Storage(host).InspectVolume(Record.Location(Name), volume)))?.PhysicalBytes;
        }

        return Info(volume, row, physical);
    }

    async Task<ImmutableArray<VolumeInfo>> IStoragePoolGrain.ListVolumes()
    {
        RequireExists();
        var rows = Record.Volumes;
        var location = Record.Location(Name);
        var byHost = new Dictionary<string, ImmutableDictionary<string, long>>(StringComparer.Ordinal);
        foreach (var host in rows.Values.Select(HostOf).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (await TryAsync<ImmutableDictionary<string, long>>(async () => await Storage(host).MeasureVolumes(location)) is { } sizes)
            {
                byHost[host] = sizes;
            }
        }

        return [.. rows.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r =>
            Info(r.Key, r.Value, HostOf(r.Value) is { } host && byHost.TryGetValue(host, out var sizes) && sizes.TryGetValue(r.Key, out var bytes) ? bytes : null))];
    }

    async Task<VolumeInfo> IStoragePoolGrain.ResizeVolume(string volume, long sizeBytes)
    {
        await ReloadIfNeededAsync();
        var row = RequireReadyVolume(volume);
        VolumeSpec.RequireSize("size", sizeBytes);
        if (row.AttachedTo is { } vm)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is a disk of vm '{vm}'; it grows through the VM (vm disk resize, or volume resize routes there)");
        }

        RequireGrowth(volume, row, sizeBytes);
        RequireRoom(volume, sizeBytes - row.SizeBytes, forVm: null);
        var host = RequireHostOf(row);
        var file = await Storage(host).ResizeVolume(Record.Location(Name), volume, sizeBytes);
        var grown = row with { SizeBytes = file.VirtualBytes };
        await WriteAsync(With(volume, grown));
        return Info(volume, grown, file.PhysicalBytes);
    }

    async Task IStoragePoolGrain.DeleteVolume(string volume)
    {
        await ReloadIfNeededAsync();
        var row = RequireVolume(volume);
        if (row.AttachedTo is { } vm && await HolderExistsAsync(vm))
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is a disk of vm '{vm}'; detach it first");
        }

        if (row.Copy is { } copy)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is being copied to host '{copy.Host}' by migration '{copy.Migration}'");
        }

        await DeleteFileAsync(volume, row);
    }

    async Task<ImageInfo> IStoragePoolGrain.ImportImage(string image, string file)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        Names.Require("image", image);
        StoragePaths.RequireAbsolute("file", file);
        if (Record.Images.ContainsKey(image))
        {
            throw FabricException.Conflict($"image '{image}' already exists in pool '{Name}'");
        }

        if (Record.Images.Count >= PoolRecord.MaxImages)
        {
            throw FabricException.InsufficientCapacity($"pool '{Name}' holds {PoolRecord.MaxImages} images, its limit");
        }

        var location = Record.Location(Name);
        var targets = Record.Type == PoolType.Shared ? [AnyHost()] : UpHosts();
        var done = new List<(string Host, ImageFileInfo File)>();
        try
        {
            foreach (var host in targets)
            {
                done.Add((host, await Storage(host).ImportImage(location, image, file)));
            }

            // The size is known only once the file is probed: an import past the limit is taken back whole.
            var copies = done.Sum(d => d.File.PhysicalBytes);
            if (Record.AllocatedBytes + copies > Record.LimitBytes)
            {
                throw FabricException.InsufficientCapacity(
                    $"pool '{Name}': image '{image}' needs {Sizes.FormatBytes(copies)}; {Sizes.FormatBytes(Math.Max(0, Record.LimitBytes - Record.AllocatedBytes))} of its limit {Sizes.FormatBytes(Record.LimitBytes)} is left");
            }
        }
        catch
        {
            foreach (var (host, imported) in done)
            {
                await TryAsync<string>(async () =>
                {
                    await Storage(host).DeleteImage(location, image, imported.Format);
                    return host;
                });
            }

            throw;
        }

        var first = done[0].File;
        var row = new ImageRow
        {
            Format = first.Format,
            VirtualBytes = first.VirtualBytes,
            PhysicalBytes = first.PhysicalBytes,
            Hosts = Record.Type == PoolType.Local ? [.. done.Select(d => d.Host)] : [],
            CreatedAt = time.GetUtcNow(),
        };
        var next = Record.Copy();
        next.Images = next.Images.SetItem(image, row);
        await WriteAsync(next);
        LogImageImported(Name, image, row.Format, row.VirtualBytes, done.Count);
        return ImageInfoOf(image, row);
    }

    Task<ImmutableArray<ImageInfo>> IStoragePoolGrain.ListImages()
    {
        RequireExists();
        return Task.FromResult<ImmutableArray<ImageInfo>>([.. Record.Images.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => ImageInfoOf(i.Key, i.Value))]);
    }

    async Task IStoragePoolGrain.DeleteImage(string image)
    {
        await ReloadIfNeededAsync();
        RequireExists();
        if (!Record.Images.TryGetValue(image, out var row))
        {
            throw FabricException.NotFound("image", $"{Name}/{image}");
        }

        var clones = Record.Volumes.Where(v => v.Value.Image == image && v.Value.Provisioning == Linked).Select(v => v.Key).Order(StringComparer.Ordinal).ToList();
        if (clones.Count > 0)
        {
            throw FabricException.Conflict($"image '{Name}/{image}' is the base of linked clone(s) {string.Join(", ", clones.Take(5))}{(clones.Count > 5 ? ", …" : "")}");
        }

        var location = Record.Location(Name);
        var remaining = row.Hosts;
        try
        {
            foreach (var host in Record.Type == PoolType.Shared ? [AnyHost()] : row.Hosts.ToArray())
            {
                RequireUp(host, $"image '{Name}/{image}' has a copy there");
                await Storage(host).DeleteImage(location, image, row.Format);
                remaining = remaining.Remove(host);
            }
        }
        catch when (remaining.Length < row.Hosts.Length)
        {
            // Copies already gone stay gone: the record keeps only the hosts that still hold one.
            var partial = Record.Copy();
            partial.Images = partial.Images.SetItem(image, row with { Hosts = remaining });
            await WriteAsync(partial);
            throw;
        }

        var next = Record.Copy();
        next.Images = next.Images.Remove(image);
        await WriteAsync(next);
    }

    async Task<VolumeAttachment> IStoragePoolGrain.Claim(string volume, string vm)
    {
        await ReloadIfNeededAsync();
        Names.Require("vm", vm);
        var row = RequireReadyVolume(volume);
        if (row.AttachedTo == vm)
        {
            return Attachment(volume, row, null);
        }

        if (row.AttachedTo is { } holder && await HolderExistsAsync(holder))
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is already a disk of vm '{holder}'");
        }

        RequireQuota(vm, row.SizeBytes);
        var claimed = row with { AttachedTo = vm };
        await WriteAsync(With(volume, claimed));
        return Attachment(volume, claimed, null);
    }

    async Task IStoragePoolGrain.Release(string volume, string vm, bool delete)
    {
        await ReloadIfNeededAsync();
        if (!Record.Exists || !Record.Volumes.TryGetValue(volume, out var row) || row.AttachedTo != vm)
        {
            return;
        }

        if (delete && row.DeleteWithVm)
        {
            await DeleteFileAsync(volume, row with { AttachedTo = null });
            return;
        }

        // Detached by hand, it outlives the VM: it is the operator's volume from now on.
        await WriteAsync(With(volume, row with { AttachedTo = null, DeleteWithVm = false }));
    }

    async Task IStoragePoolGrain.PrepareCopy(string volume, string vm, string host, string migration)
    {
        await ReloadIfNeededAsync();
        var row = RequireReadyVolume(volume);
        Names.Require("host", host);
        RequireLocalHolder(volume, row, vm);
        if (row.Host == host)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' already lives on host '{host}'");
        }

        if (row.Copy is { } existing && existing.Migration != migration)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is being copied to host '{existing.Host}' by migration '{existing.Migration}'");
        }

        if (row.Copy is null)
        {
            RequireRoom(volume, row.SizeBytes, forVm: null);

            // Counted (and written) before the file exists: a cancelled copy leaves nothing counted once undone.
            await WriteAsync(With(volume, row with { Copy = new VolumeCopyRow(host, row.SizeBytes, migration) }));
        }

        RequireUp(host, "the copy's host");
        var location = Record.Location(Name);
        if (await Storage(host).InspectVolume(location, volume) is null)
        {
            await Storage(host).CreateVolume(location, new VolumeFileRequest(volume, row.SizeBytes, null, null, Full: false));
        }
    }

    async Task IStoragePoolGrain.CommitCopy(string volume, string vm, string host, string migration)
    {
        await ReloadIfNeededAsync();
        if (!Record.Exists || !Record.Volumes.TryGetValue(volume, out var row) || row.Host == host && row.Copy is null)
        {
            return; // Committed before.
        }

        RequireLocalHolder(volume, row, vm);
        if (row.Copy?.Migration != migration || row.Copy.Host != host)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' has no copy on host '{host}' for migration '{migration}'");
        }

        var old = row.Host!;
        await WriteAsync(With(volume, row with { Host = host, Copy = null }));
        LogCopyCommitted(Name, volume, old, host, migration);

        // The old file goes; the source's process, fenced, may still hold it open for a moment (an unlink is safe then).
        await DeleteLeftoverAsync(volume, old);
    }

    async Task IStoragePoolGrain.AbortCopy(string volume, string vm, string migration)
    {
        await ReloadIfNeededAsync();
        if (!Record.Exists || !Record.Volumes.TryGetValue(volume, out var row) || row.Copy?.Migration != migration)
        {
            return; // Undone before, or never prepared.
        }

        await DeleteLeftoverAsync(volume, row.Copy.Host);
        await WriteAsync(With(volume, row with { Copy = null }));
    }

    async Task<VolumeAttachment> IStoragePoolGrain.GrowAttached(string volume, string vm, long sizeBytes)
    {
        await ReloadIfNeededAsync();
        var row = RequireReadyVolume(volume);
        VolumeSpec.RequireSize("size", sizeBytes);
        if (row.AttachedTo != vm)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is not a disk of vm '{vm}'");
        }

        RequireGrowth(volume, row, sizeBytes);
        RequireRoom(volume, sizeBytes - row.SizeBytes, vm);
        var grown = row with { SizeBytes = sizeBytes };
        await WriteAsync(With(volume, grown));
        return Attachment(volume, grown, null);
    }

    /// <summary>
    /// Whether the VM a volume is attached to still exists: a VM gives its volumes back after its record is gone, and
    /// if that failed, the volume is free all the same. (<see cref="IVmGrain.Get"/> interleaves, so asking cannot
    /// deadlock against a VM that is waiting on this pool.)
    /// </summary>
    private async Task<bool> HolderExistsAsync(string vm)
    {
        try
        {
            await GrainFactory.GetGrain<IVmGrain>(vm).Get();
            return true;
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
        {
            return false;
        }
    }

    private void RequireLocalHolder(string volume, VolumeRow row, string vm)
    {
        if (Record.Type != PoolType.Local)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is in shared pool '{Name}': every host sees it, nothing is copied");
        }

        if (row.AttachedTo != vm)
        {
            throw FabricException.Conflict($"volume '{Name}/{volume}' is not a disk of vm '{vm}'");
        }
    }

    /// <summary>Deletes a volume's file on a host where the volume does not (or no longer) live; a host that is down keeps it for now.</summary>
    private async Task DeleteLeftoverAsync(string volume, string host)
    {
        if (!hosts.IsUp(host))
        {
            LogLeftover(Name, volume, host);
            return;
        }

        await Storage(host).DeleteVolume(Record.Location(Name), volume);
    }

    /// <summary>Creating and deleting rows a crash left behind are settled from what the host holds.</summary>
    private async Task SettleInterruptedAsync()
    {
        foreach (var (volume, row) in Record.Volumes.Where(v => v.Value.State != VolumeState.Ready).ToList())
        {
            if (HostOf(row) is not { } host || !hosts.IsUp(host))
            {
                continue;
            }

            try
            {
                var file = await Storage(host).InspectVolume(Record.Location(Name), volume);
                if (row.State == VolumeState.Creating && file is not null)
                {
                    await WriteAsync(With(volume, row with { State = VolumeState.Ready }));
                }
                else
                {
                    await DeleteFileAsync(volume, row);
                }
            }
            catch (Exception ex)
            {
                LogSettleFailed(Name, volume, ex.Message);
            }
        }
    }

    private async Task DeleteFileAsync(string volume, VolumeRow row)
    {
        var host = RequireHostOf(row);
        await WriteAsync(With(volume, row with { State = VolumeState.Deleting }));
        await Storage(host).DeleteVolume(Record.Location(Name), volume);
        await WriteAsync(Without(volume));
        LogVolumeDeleted(Name, volume, host);
    }

    private async Task<PoolInfo> MeasureAsync()
    {
        var location = Record.Location(Name);
        var targets = Record.Type == PoolType.Shared
            ? hosts.UpHosts.Take(1).ToList()
            : [.. hosts.UpHosts.Union(Record.Volumes.Values.Select(v => v.Host).OfType<string>()).Distinct(StringComparer.Ordinal)];
        var unmeasured = ImmutableArray.CreateBuilder<string>();
        foreach (var host in targets)
        {
            if (hosts.IsUp(host) && await TryAsync<StorageUsage>(async () => await Storage(host).MeasurePool(location)) is { } usage)
            {
                _used[Record.Type == PoolType.Shared ? "" : host] = usage.UsedBytes;
                _measuredAt = time.GetUtcNow();
            }
            else
            {
                unmeasured.Add(host);
            }
        }

        return new PoolInfo
        {
            Name = Name,
            Type = Record.Type!.Value,
            Path = Record.Path,
            CapacityBytes = Record.CapacityBytes,
            Overcommit = Record.Overcommit,
            LimitBytes = Record.LimitBytes,
            AllocatedBytes = Record.AllocatedBytes,
            UsedBytes = _used.Values.Sum(),
            MeasuredAt = _measuredAt,
            QuotaPerVmBytes = Record.QuotaPerVmBytes,
            Volumes = Record.Volumes.Count,
            Images = Record.Images.Count,
            CreatedAt = Record.CreatedAt,
            Unmeasured = unmeasured.ToImmutable(),
        };
    }

    /// <summary>Where a new volume's file is made: its local host (given, or the image's, or the least-filled), or any host for a shared pool.</summary>
    private string ChooseHost(VolumeSpec spec, ImageRow? image)
    {
        if (Record.Type == PoolType.Shared)
        {
            if (spec.Host is { } wanted)
            {
                RequireUp(wanted, "the requested host");
                return wanted;
            }

            return AnyHost();
        }

        var candidates = UpHosts().Where(h => image is null || image.Hosts.Contains(h)).ToList();
        if (spec.Host is { } requested)
        {
            if (image is not null && !image.Hosts.Contains(requested))
            {
                throw FabricException.Conflict($"image '{Name}/{spec.Image}' has no copy on host '{requested}' (it is on {string.Join(", ", image.Hosts)})");
            }

            RequireUp(requested, "the requested host");
            return requested;
        }

        if (candidates.Count == 0)
        {
            throw FabricException.Unavailable(image is null
                ? $"pool '{Name}': no host is up"
                : $"pool '{Name}': no host holding image '{spec.Image}' is up");
        }

        return candidates.MinBy(h => Record.Volumes.Values.Where(v => v.Host == h).Sum(v => v.SizeBytes))!;
    }

    private void RequireRoom(string volume, long bytes, string? forVm)
    {
        var free = Record.LimitBytes - Record.AllocatedBytes;
        if (bytes > free)
        {
            throw FabricException.InsufficientCapacity(
                $"pool '{Name}': volume '{volume}' needs {Sizes.FormatBytes(bytes)} but {Sizes.FormatBytes(Math.Max(0, free))} of {Sizes.FormatBytes(Record.LimitBytes)} is left (capacity {Sizes.FormatBytes(Record.CapacityBytes)} × overcommit {Record.Overcommit})");
        }

        if (forVm is not null)
        {
            RequireQuota(forVm, bytes);
        }
    }

    private void RequireQuota(string vm, long bytes)
    {
        if (Record.QuotaPerVmBytes is not { } quota)
        {
            return;
        }

        var held = Record.Volumes.Values.Where(v => v.AttachedTo == vm).Sum(v => v.SizeBytes);
        if (held + bytes > quota)
        {
            throw FabricException.InsufficientCapacity(
                $"pool '{Name}': vm '{vm}' would hold {Sizes.FormatBytes(held + bytes)}, over the pool's quota per VM of {Sizes.FormatBytes(quota)}");
        }
    }

    private static void RequireGrowth(string volume, VolumeRow row, long sizeBytes)
    {
        if (sizeBytes < row.SizeBytes)
        {
            throw FabricException.InvalidSpec("size", $"volume '{volume}' is {Sizes.FormatBytes(row.SizeBytes)}; volumes only grow");
        }
    }

    private string? HostOf(VolumeRow row) =>
        Record.Type == PoolType.Local ? row.Host : hosts.UpHosts.FirstOrDefault();

    private string RequireHostOf(VolumeRow row)
    {
        if (Record.Type == PoolType.Shared)
        {
            return AnyHost();
        }

        RequireUp(row.Host!, "the volume's host");
        return row.Host!;
    }

    private string AnyHost() => hosts.UpHosts.FirstOrDefault() ?? throw FabricException.Unavailable($"pool '{Name}': no host is up");

    private List<string> UpHosts()
    {
        var up = hosts.UpHosts.ToList();
        return up.Count > 0 ? up : throw FabricException.Unavailable($"pool '{Name}': no host is up");
    }

    private void RequireUp(string host, string what)
    {
        if (!hosts.IsUp(host))
        {
            throw FabricException.Unavailable($"pool '{Name}': host '{host}' ({what}) is down");
        }
    }

    private IHostStorage Storage(string host) => GrainFactory.GetGrain<IHostStorage>(host);

    private void RequireExists()
    {
        if (!Record.Exists)
        {
            throw FabricException.NotFound("pool", Name);
        }
    }

    private VolumeRow RequireVolume(string volume)
    {
        RequireExists();
        Names.Require("volume", volume);
        return Record.Volumes.TryGetValue(volume, out var row) ? row : throw FabricException.NotFound("volume", $"{Name}/{volume}");
    }

    private VolumeRow RequireReadyVolume(string volume)
    {
        var row = RequireVolume(volume);
        return row.State == VolumeState.Ready
            ? row
            : throw FabricException.Conflict($"volume '{Name}/{volume}' is {row.State.ToString().ToLowerInvariant()}");
    }

    private PoolRecord With(string volume, VolumeRow row)
    {
        var next = Record.Copy();
        next.Volumes = next.Volumes.SetItem(volume, row);
        return next;
    }

    private PoolRecord Without(string volume)
    {
        var next = Record.Copy();
        next.Volumes = next.Volumes.Remove(volume);
        return next;
    }

    private VolumeAttachment Attachment(string volume, VolumeRow row, long? physical) => new(Info(volume, row, physical), Record.Location(Name));

    private VolumeInfo Info(string volume, VolumeRow row, long? physical) => new()
    {
        Pool = Name,
        Name = volume,
        SizeBytes = row.SizeBytes,
        PhysicalBytes = physical,
        State = row.State,
        Host = row.Host,
        Image = row.Image,
        Provisioning = row.Provisioning,
        AttachedTo = row.AttachedTo,
        DeleteWithVm = row.DeleteWithVm,
        CreatedAt = row.CreatedAt,
    };

    private ImageInfo ImageInfoOf(string image, ImageRow row) => new()
    {
        Pool = Name,
        Name = image,
        Format = row.Format,
        VirtualBytes = row.VirtualBytes,
        PhysicalBytes = row.PhysicalBytes,
        Hosts = row.Hosts,
        LinkedClones = Record.Volumes.Values.Count(v => v.Image == image && v.Provisioning == Linked),
        CreatedAt = row.CreatedAt,
    };

    /// <summary>A host call whose failure only means "not measured now".</summary>
    private async Task<T?> TryAsync<T>(Func<Task<T?>> call)
        where T : class
    {
        try
        {
            return await call().WaitAsync(MeasureTimeout);
        }
        catch (Exception ex) when (ex is FabricException or TimeoutException or OrleansException)
        {
            LogHostCallFailed(Name, ex.Message);
            return null;
        }
    }

    private async Task ReloadIfNeededAsync()
    {
        if (_mustReload)
        {
            await state.ReadStateAsync();
            _mustReload = false;
        }
    }

    private async Task WriteAsync(PoolRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            _mustReload = true;
            throw FabricException.Unavailable($"pool '{Name}': its record could not be written ({failure.Message})");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool} created: {Type} at {Path}, capacity {Capacity} bytes, overcommit {Overcommit}")]
    private partial void LogCreated(string pool, PoolType type, string path, long capacity, double overcommit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool} deleted")]
    private partial void LogDeleted(string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool}: volume {Volume} created on host {Host}, {Size} bytes ({Provisioning})")]
    private partial void LogVolumeCreated(string pool, string volume, string host, long size, string provisioning);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool}: volume {Volume} deleted on host {Host}")]
    private partial void LogVolumeDeleted(string pool, string volume, string host);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool}: image {Image} imported ({Format}, {Size} bytes), {Copies} copies")]
    private partial void LogImageImported(string pool, string image, string format, long size, int copies);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool {Pool}: volume {Volume} moved from host {From} to host {To} (migration {Migration})")]
    private partial void LogCopyCommitted(string pool, string volume, string from, string to, string migration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pool {Pool}: volume {Volume} has a file left on host {Host}, which is down; it is not counted")]
    private partial void LogLeftover(string pool, string volume, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pool {Pool}: a host call failed: {Error}")]
    private partial void LogHostCallFailed(string pool, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pool {Pool}: settling volume {Volume} failed for now: {Error}")]
    private partial void LogSettleFailed(string pool, string volume, string error);
}
