using Fabric.Contracts;

namespace Fabric.Grains.Persistence;

/// <summary>The audit trail: append-only rows, queried by time, project and user.</summary>
public interface IAuditLog
{
    /// <summary>Appends <paramref name="entry"/>; returns it with its id.</summary>
    Task<AuditEntry> AppendAsync(AuditEntry entry);

    Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query);
}
