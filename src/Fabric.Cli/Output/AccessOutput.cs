using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Projects with their quotas and usage, API tokens (never a secret, but for the one just issued) and audit rows.</summary>
internal static class AccessOutput
{
    /// <summary>What stands for a limit that is not set.</summary>
    public const string NoLimit = "∞";

    /// <summary>The line that goes with a token shown once.</summary>
    public const string ShownOnce = "warning: this token is shown once and never again; store it now (a file readable only by you)";

    public static void Projects(IAnsiConsole console, IReadOnlyList<ProjectInfo> projects)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(projects);
        var table = Cells.Table("NAME", "VMS(used/quota)", "VCPU(used/quota)", "MEMORY(used/quota)", "CREATED");
        foreach (var project in projects)
        {
            var (quota, usage) = (project.Quota ?? ProjectQuota.Unlimited, project.Usage ?? new ProjectUsage());
            table.AddRow(
                Cells.Of(project.Name),
                Cells.Of(Used(usage.Vms, quota.Vms)),
                Cells.Of(Used(usage.VCpus, quota.VCpus)),
                Cells.Of($"{Cells.Memory(usage.MemoryMiB)}/{(quota.MemoryMiB is { } memory ? Cells.Memory(memory) : NoLimit)}"),
                Cells.Of(Cells.Time(project.CreatedAt)));
        }

        console.Write(table);
    }

    public static void Project(IAnsiConsole console, ProjectInfo project)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(project);
        var (quota, usage) = (project.Quota ?? ProjectQuota.Unlimited, project.Usage ?? new ProjectUsage());
        var grid = Cells.Details();
        grid.Row("Name", project.Name);
        grid.Row("VMs", $"{usage.Vms} of {Limit(quota.Vms)}");
        grid.Row("vCPUs", $"{usage.VCpus} of {Limit(quota.VCpus)}");
        grid.Row("Memory", $"{Cells.Memory(usage.MemoryMiB)} of {(quota.MemoryMiB is { } memory ? Cells.Memory(memory) : "unlimited")}");
        grid.Row("Created", Cells.Time(project.CreatedAt));
        console.Write(grid);
    }

    public static void Tokens(IAnsiConsole console, IReadOnlyList<TokenInfo> tokens)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(tokens);
        var table = Cells.Table("ID", "USER", "PROJECT", "ROLE", "CREATED", "EXPIRES", "REVOKED");
        foreach (var token in tokens)
        {
            table.AddRow(
                Cells.Of(token.Id),
                Cells.Of(token.User),
                Cells.Of(token.Role == Role.Admin ? "*" : token.Project),
                Cells.Of(Roles.Format(token.Role)),
                Cells.Of(Cells.Time(token.CreatedAt)),
                Cells.Of(token.ExpiresAt is { } expires ? Cells.Time(expires) : "never"),
                Cells.Of(token.RevokedAt is { } revoked ? Cells.Time(revoked) : null));
        }

        console.Write(table);
    }

    /// <summary>One token's row as a grid: <c>token revoke</c>, <c>whoami</c>.</summary>
    public static void Token(IAnsiConsole console, TokenInfo token)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(token);
        var grid = Cells.Details();
        AddToken(grid, token);
        console.Write(grid);
    }

    /// <summary>A token just created: its secret, once, above its description (the warning goes to stderr).</summary>
    public static void Issued(IAnsiConsole console, IssuedToken issued)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(issued);
        var grid = Cells.Details();
        grid.Row("Token", issued.Token);
        AddToken(grid, issued.Info);
        console.Write(grid);
    }

    public static void Audit(IAnsiConsole console, IReadOnlyList<AuditEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(entries);
        var table = Cells.Table("AT", "USER", "TOKEN", "PROJECT", "ACTION", "TARGET", "RESULT", "SOURCE");
        foreach (var entry in entries)
        {
            table.AddRow(
                Cells.Of(Cells.Time(entry.At)),
                Cells.Of(entry.User),
                Cells.Of(entry.TokenId),
                Cells.Of(entry.Project),
                Cells.Of(entry.Action),
                Cells.Of(entry.Target),
                Cells.Of(entry.Result),
                Cells.Of(entry.Source));
        }

        console.Write(table);
    }

    private static void AddToken(Grid grid, TokenInfo token)
    {
        grid.Row("Id", token.Id);
        grid.Row("User", token.User);
        grid.Row("Project", token.Role == Role.Admin ? $"{token.Project} (an admin has every project)" : token.Project);
        grid.Row("Role", Roles.Format(token.Role));
        grid.Row("Created", Cells.Time(token.CreatedAt));
        grid.Row("Expires", token.ExpiresAt is { } expires ? Cells.Time(expires) : "never");
        grid.Row("Revoked", token.RevokedAt is { } revoked ? Cells.Time(revoked) : null);
    }

    private static string Used(long used, long? limit) => $"{used.ToString(CultureInfo.InvariantCulture)}/{(limit is { } value ? value.ToString(CultureInfo.InvariantCulture) : NoLimit)}";

    private static string Limit(long? limit) => limit is { } value ? value.ToString(CultureInfo.InvariantCulture) : "unlimited";
}
