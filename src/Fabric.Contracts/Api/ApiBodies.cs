namespace Fabric.Contracts;

// Request bodies of HTTP API routes that take no contract record of their own (see docs/api.md). Plain JSON shapes
// shared by the server and its clients; they never cross a grain boundary.

/// <summary><c>POST /v1/vms/{vm}/snapshots</c>.</summary>
public sealed record SnapshotRequest(string Name);

/// <summary><c>POST /v1/vms/{vm}/disks</c>.</summary>
public sealed record DiskAttachment(string Pool, string Volume);

/// <summary><c>POST /v1/vms/{vm}/nics</c>.</summary>
public sealed record NicAttachment(string Network, string? Ip);

/// <summary><c>POST /v1/vms/{vm}/console</c>: one line typed into the guest's console.</summary>
public sealed record ConsoleLine(string Line)
{
    /// <summary>The longest line the API types into a console, in bytes.</summary>
    public const int MaxBytes = 4096;
}

/// <summary><c>POST /v1/projects</c>.</summary>
public sealed record ProjectRequest(string Name, ProjectQuota? Quota);

/// <summary><c>POST /v1/volumes/{pool}/{volume}/resize</c>.</summary>
public sealed record VolumeResize(long SizeBytes);

/// <summary><c>POST /v1/images/{pool}</c>: imports a file the serving silo's host can read.</summary>
public sealed record ImageImport(string Name, string File);
