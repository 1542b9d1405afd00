using Fabric.Contracts;

namespace Fabric.Api.Security;

/// <summary>
/// Who is calling, from a verified token, and what that token may do: an admin everything, an operator or viewer only
/// within its project. Every check that fails is <c>forbidden</c> naming what was refused.
/// </summary>
public sealed record Caller(TokenInfo Token)
{
    public string User => Token.User;

    public bool IsAdmin => Token.Role == Role.Admin;

    /// <summary>The project a create without one goes to: the caller's own, or the default one for an admin.</summary>
    public string DefaultProject => IsAdmin ? ProjectInfo.Default : Token.Project;

    /// <summary>Whether the caller may read objects of <paramref name="project"/>.</summary>
    public bool CanSee(string? project) => IsAdmin || (project is not null && project == Token.Project);

    /// <summary>Throws <c>forbidden</c> unless the caller holds at least <paramref name="role"/> in <paramref name="project"/>.</summary>
    public void Require(Role role, string project, string what)
    {
        if (IsAdmin || (Token.Role >= role && Token.Project == project))
        {
            return;
        }

        throw FabricException.Forbidden(Token.Project == project || role == Role.Admin
            ? $"{Token.User} ({Roles.Format(Token.Role)}) may not {what}"
            : $"{Token.User} has no access to project '{project}' ({what})");
    }

    /// <summary>Throws <c>forbidden</c> unless the caller is an admin.</summary>
    public void RequireAdmin(string what)
    {
        if (!IsAdmin)
        {
            throw FabricException.Forbidden($"{Token.User} ({Roles.Format(Token.Role)}) may not {what}: it needs admin");
        }
    }
}
