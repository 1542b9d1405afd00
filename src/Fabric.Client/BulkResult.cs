using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>The outcome of one VM's part in a bulk operation.</summary>
/// <param name="Vm">The VM's name.</param>
/// <param name="Info">The VM after the operation, when it succeeded and the VM still exists.</param>
/// <param name="ErrorCode">The error code when it failed.</param>
/// <param name="Error">The error message when it failed.</param>
public sealed record BulkResult(string Vm, VmInfo? Info, string? ErrorCode, string? Error)
{
    public bool Succeeded => ErrorCode is null;
}

/// <summary>Progress of a bulk operation: how many of the VMs are done, and how many of those failed.</summary>
public readonly record struct BulkProgress(int Done, int Failed, int Total);
