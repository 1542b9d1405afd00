namespace Fabric.Contracts;

/// <summary>The error codes every Fabric API and CLI failure carries (<c>error: &lt;code&gt;: &lt;message&gt;</c>).</summary>
public static class ErrorCodes
{
    /// <summary>A spec or argument is malformed or out of range; the message names the field.</summary>
    public const string InvalidSpec = "invalid-spec";

    /// <summary>The named VM, host or other object does not exist.</summary>
    public const string NotFound = "not-found";

    /// <summary>The object exists but its current state forbids the operation.</summary>
    public const string Conflict = "conflict";

    /// <summary>No host has room for the request.</summary>
    public const string InsufficientCapacity = "insufficient-capacity";

    /// <summary>The host (or the whole fabric) that must serve the call is not reachable.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>The caller may not do this.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The request carries no valid credentials (none, unknown, revoked or expired).</summary>
    public const string Unauthenticated = "unauthenticated";

    /// <summary>A project's quota would be exceeded; the message names the quota.</summary>
    public const string InsufficientQuota = "insufficient-quota";

    /// <summary>The hypervisor refused or failed the operation (QEMU could not start, QMP error).</summary>
    public const string HypervisorError = "hypervisor-error";
}
