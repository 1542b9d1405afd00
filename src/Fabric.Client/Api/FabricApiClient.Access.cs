using System.Collections.Immutable;
using System.Globalization;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>Projects and their quotas (<c>/v1/projects</c>), API tokens (<c>/v1/tokens</c>) and the audit trail (<c>/v1/audit</c>).</summary>
public sealed partial class FabricApiClient
{
    /// <summary>Creates a project with <paramref name="quota"/> (null limits are unlimited).</summary>
    public Task<ProjectInfo> CreateProjectAsync(string name, ProjectQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        return PostAsync<ProjectInfo>("v1/projects", new ProjectBody(name, quota), CancellationToken.None);
    }

    /// <summary>The projects the caller may see (every one for an admin), with their quotas and usage.</summary>
    public Task<ImmutableArray<ProjectInfo>> ListProjectsAsync() => ListAsync<ProjectInfo>("v1/projects", CancellationToken.None);

    public Task<ProjectInfo> GetProjectAsync(string name) => GetAsync<ProjectInfo>($"v1/projects/{Segment(name)}", CancellationToken.None);

    /// <summary>Replaces the project's quota (one below its usage only refuses new VMs).</summary>
    public Task<ProjectInfo> SetQuotaAsync(string name, ProjectQuota quota)
    {
        ArgumentNullException.ThrowIfNull(quota);
        return SendAsync<ProjectInfo>(HttpMethod.Put, $"v1/projects/{Segment(name)}/quota", quota, _connection.RequestTimeout, CancellationToken.None);
    }

    /// <summary>Deletes a project that has no VMs (the default project is never deleted).</summary>
    public Task DeleteProjectAsync(string name) => SendAsync(HttpMethod.Delete, $"v1/projects/{Segment(name)}", null, CancellationToken.None);

    /// <summary>Creates an API token; the answer carries its secret, which nothing keeps: show it once.</summary>
    public Task<IssuedToken> CreateTokenAsync(TokenRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync<IssuedToken>("v1/tokens", request, CancellationToken.None);
    }

    /// <summary>Every token, revoked and expired ones included (never a secret).</summary>
    public Task<ImmutableArray<TokenInfo>> ListTokensAsync() => ListAsync<TokenInfo>("v1/tokens", CancellationToken.None);

    /// <summary>Revokes a token (idempotent); <c>not-found</c> for an unknown id.</summary>
    public Task<TokenInfo> RevokeTokenAsync(string id) =>
        SendAsync<TokenInfo>(HttpMethod.Delete, $"v1/tokens/{Segment(id)}", null, _connection.RequestTimeout, CancellationToken.None);

    /// <summary>Rows of the audit trail matching <paramref name="query"/>, oldest first.</summary>
    public Task<ImmutableArray<AuditEntry>> ListAuditAsync(AuditQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var terms = new List<string>();
        if (query.Since is { } since)
        {
            terms.Add($"since={Query(since.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}");
        }

        if (query.Project is { } project)
        {
            terms.Add($"project={Query(project)}");
        }

        if (query.User is { } user)
        {
            terms.Add($"user={Query(user)}");
        }

        terms.Add($"limit={query.Limit.ToString(CultureInfo.InvariantCulture)}");
        return ListAsync<AuditEntry>($"v1/audit?{string.Join('&', terms)}", CancellationToken.None);
    }

    internal sealed record ProjectBody(string Name, ProjectQuota Quota);
}
