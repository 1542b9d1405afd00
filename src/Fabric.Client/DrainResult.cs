using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>What a drain did with one VM: its migration (when one ran), whether it left the host, and why not.</summary>
public sealed record DrainResult(string Vm, MigrationInfo? Migration, bool Moved, string? Reason);

/// <summary>A drain's progress: how many of its VMs are done, and the one that just finished.</summary>
public sealed record DrainProgress(int Total, int Done, DrainResult Latest);
