using System.Text.Json.Serialization;

namespace Fabric.Contracts;

/// <summary>What a credential may do, from least to most. Ordered: a role includes every role below it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Role>))]
public enum Role
{
    /// <summary>Reads the VMs of its project (and the fleet's hosts, pools and networks).</summary>
    Viewer = 1,

    /// <summary>A viewer that also runs the lifecycle of its project's VMs: create, start, stop, console, migrate, snapshots, delete.</summary>
    Operator = 2,

    /// <summary>Everything, in every project: hosts, pools, networks, projects, tokens and the audit trail.</summary>
    Admin = 3,
}

/// <summary>Parses and prints roles as the API and CLI spell them (<c>admin</c>, <c>operator</c>, <c>viewer</c>).</summary>
public static class Roles
{
    public static Role Parse(string field, string? value) => value?.ToLowerInvariant() switch
    {
        "admin" => Role.Admin,
        "operator" => Role.Operator,
        "viewer" => Role.Viewer,
        _ => throw FabricException.InvalidSpec(field, $"'{Names.Printable(value ?? "")}' is not admin, operator or viewer"),
    };

    public static string Format(Role role) => role.ToString().ToLowerInvariant();
}
