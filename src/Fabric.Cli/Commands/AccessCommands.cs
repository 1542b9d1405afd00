using System.CommandLine;
using System.Text.RegularExpressions;
using Fabric.Cli.Output;
using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;
using static Fabric.Cli.Commands.CommandResults;

namespace Fabric.Cli.Commands;

/// <summary><c>fabricctl login</c>, <c>whoami</c>, <c>project …</c>, <c>token …</c> and <c>audit list</c>.</summary>
internal static partial class AccessCommands
{
    public static IEnumerable<Command> Create(GlobalOptions global, CliIo io) =>
        [Login(global, io), WhoAmI(global, io), Project(global, io), Token(global, io), Audit(global, io)];

    /// <summary><c>login --api URL --token-file F [--ca FILE]</c>: checks the token with the API, then saves where the API is.</summary>
    private static Command Login(GlobalOptions global, CliIo io)
    {
        var api = new Option<string>("--api") { Description = "The API's base URL (e.g. https://127.0.0.1:8080; ./fabric up writes it to .fabric/api-url)", HelpName = "URL", Required = true };
        var tokenFile = new Option<string>("--token-file")
        {
            Description = "A file holding the token ('-' for standard input); the saved settings name the file, so the secret is not copied (a token from standard input is saved, mode 0600)",
            HelpName = "FILE",
            Required = true,
        };
        var ca = new Option<string>("--ca")
        {
            Description = "The fabric's CA bundle (PEM, .fabric/pki/ca.crt): the API's certificate must chain to it, whatever the system trusts",
            HelpName = "FILE",
        };
        var command = new Command("login", "Check a token with a fabric's API and save both for later commands (in $XDG_CONFIG_HOME/fabric/config.json)") { api, tokenFile, ca };
        command.SetRunAction(global, io, async context =>
        {
            var file = context.Get(tokenFile)!;
            var fromInput = file == "-";
            var token = fromInput ? await ReadTokenAsync(io.In) : FabricApiConnection.ReadTokenFile("token-file", file);
            var caFile = context.Get(ca) is { Length: > 0 } given ? Path.GetFullPath(given) : null;
            var connection = FabricApiConnection.Create(context.Get(api)!, token, "api", "token-file") with { CaFile = caFile };
            var path = FabricApiConfigFile.PathFor(io.Variables)
                ?? throw FabricException.InvalidSpec("config", "neither XDG_CONFIG_HOME nor HOME is set: there is nowhere to save the settings");

            TokenInfo caller;
            using (var client = context.Connect(connection))
            {
                caller = await client.WhoAmIAsync(context.CancellationToken);
            }

            FabricApiConfigFile.Write(path, connection.BaseUrl, fromInput ? connection.Token : null, fromInput ? null : Path.GetFullPath(file), caFile);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, new LoggedIn(connection.BaseUrl.ToString(), caller.User, caller.Project, caller.Role, caller.ExpiresAt, path));
            }
            else
            {
                context.Out.WriteLine($"Logged in to {connection.BaseUrl} as {caller.User} ({Roles.Format(caller.Role)}, project {caller.Project}); settings saved in {path}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command WhoAmI(GlobalOptions global, CliIo io)
    {
        var command = new Command("whoami", "The caller as the API knows it: user, project, role, expiry");
        command.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).WhoAmIAsync(context.CancellationToken), AccessOutput.Token));
        return command;
    }

    private static Command Project(GlobalOptions global, CliIo io)
    {
        var project = new Command("project", "Projects: who owns which VMs, and how much they may hold");

        var name = NameArgument("NAME", "project");
        var limits = new QuotaOptions();
        var create = new Command("create", "Create a project, optionally with a quota (no limit by default)") { name };
        limits.AddTo(create);
        create.SetRunAction(global, io, async context =>
        {
            var quota = limits.Apply(context, ProjectQuota.Unlimited);
            return await WriteAsync(context, await (await context.ClientAsync()).CreateProjectAsync(context.Get(name)!, quota), AccessOutput.Project);
        });
        project.Subcommands.Add(create);

        var list = new Command("list", "Projects with their quotas and usage (an admin sees every one)");
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<ProjectInfo>>(context, await (await context.ClientAsync()).ListProjectsAsync(), AccessOutput.Projects));
        project.Subcommands.Add(list);

        var getName = NameArgument("NAME", "project");
        var get = new Command("get", "One project: its quota and what its VMs hold") { getName };
        get.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).GetProjectAsync(context.Get(getName)!), AccessOutput.Project));
        project.Subcommands.Add(get);

        var quotaName = NameArgument("NAME", "project");
        var quotaLimits = new QuotaOptions();
        var quota = new Command("quota", "Change a project's quota: the limits given change ('unlimited' lifts one), the others stay") { quotaName };
        quotaLimits.AddTo(quota);
        quota.SetRunAction(global, io, async context =>
        {
            var client = await context.ClientAsync();
            var target = context.Get(quotaName)!;
            var current = await client.GetProjectAsync(target);
            var changed = quotaLimits.Given(context) ? await client.SetQuotaAsync(target, quotaLimits.Apply(context, current.Quota ?? ProjectQuota.Unlimited)) : current;
            return await WriteAsync(context, changed, AccessOutput.Project);
        });
        project.Subcommands.Add(quota);

        var deleteName = NameArgument("NAME", "project");
        var delete = new Command("delete", "Delete a project that has no VMs (the default project always stays)") { deleteName };
        delete.Aliases.Add("rm");
        delete.SetRunAction(global, io, async context =>
        {
            var deleted = context.Get(deleteName)!;
            await (await context.ClientAsync()).DeleteProjectAsync(deleted);
            return await DoneAsync(context, $"project/{deleted} deleted", new DeletedObject(deleted, Deleted: true));
        });
        project.Subcommands.Add(delete);
        return project;
    }

    private static Command Token(GlobalOptions global, CliIo io)
    {
        var token = new Command("token", "API tokens: who may call the API, in which project, with which role");

        var user = new Option<string?>("--user") { Description = "Who holds the token: the name the audit trail records (default PROJECT-ROLE, e.g. team-a-operator)", HelpName = "USER", CustomParser = r => Parsers.Parse<string?>(r, text => User("user", text)) };
        var project = new Option<string?>("--project") { Description = $"The project the role applies to (default {ProjectInfo.Default}; an admin has every project)", HelpName = "PROJECT", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("project", text)) };
        var role = new Option<Role>("--role") { Description = "viewer (reads), operator (runs its project's VMs) or admin (everything)", HelpName = "admin|operator|viewer", Required = true, CustomParser = r => Parsers.Parse(r, text => Roles.Parse("role", text)) };
        var expires = new Option<TimeSpan?>("--expires") { Description = "How long the token works, e.g. 30m, 12h, 7d (default: until revoked)", HelpName = "DURATION", CustomParser = r => Parsers.Parse<TimeSpan?>(r, text => Parsers.Duration("expires", text)) };
        var create = new Command("create", "Create a token; its secret is shown this once") { user, project, role, expires };
        create.SetRunAction(global, io, async context =>
        {
            var tokenProject = context.Get(project) ?? ProjectInfo.Default;
            var tokenRole = context.Get(role);
            var request = new TokenRequest
            {
                User = context.Get(user) ?? $"{tokenProject}-{Roles.Format(tokenRole)}",
                Project = tokenProject,
                Role = tokenRole,
                ExpiresAt = context.Get(expires) is { } lifetime ? DateTimeOffset.UtcNow + lifetime : null,
            };
            var issued = await (await context.ClientAsync()).CreateTokenAsync(request);
            if (context.Json)
            {
                await Json.WriteAsync(io.Out, issued);
            }
            else
            {
                AccessOutput.Issued(context.Out, issued);
                await io.Error.WriteLineAsync(AccessOutput.ShownOnce);
            }

            return ExitCodes.Success;
        });
        token.Subcommands.Add(create);

        var list = new Command("list", "Every token, revoked and expired ones included (never a secret)");
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
            await WriteAsync<IReadOnlyList<TokenInfo>>(context, await (await context.ClientAsync()).ListTokensAsync(), AccessOutput.Tokens));
        token.Subcommands.Add(list);

        var id = new Argument<string>("ID") { Description = "The token's id (token list)", CustomParser = r => Parsers.Parse(r, text => TokenId("id", text)) ?? "" };
        var revoke = new Command("revoke", "Revoke a token: it stops working at once (idempotent)") { id };
        revoke.SetRunAction(global, io, async context =>
            await WriteAsync(context, await (await context.ClientAsync()).RevokeTokenAsync(context.Get(id)!), AccessOutput.Token));
        token.Subcommands.Add(revoke);
        return token;
    }

    private static Command Audit(GlobalOptions global, CliIo io)
    {
        var audit = new Command("audit", "The audit trail: every change made through the API, and every console session");
        var since = new Option<DateTimeOffset?>("--since") { Description = "Rows at or after T: an ISO 8601 time, or a duration ago (30m, 12h, 7d)", HelpName = "T", CustomParser = r => Parsers.Parse<DateTimeOffset?>(r, text => Parsers.Since("since", text, DateTimeOffset.UtcNow)) };
        var project = new Option<string?>("--project") { Description = "Only this project's rows", HelpName = "PROJECT", CustomParser = r => Parsers.Parse<string?>(r, text => Parsers.Name("project", text)) };
        var user = new Option<string?>("--user") { Description = "Only this user's rows", HelpName = "USER", CustomParser = r => Parsers.Parse<string?>(r, text => User("user", text)) };
        var limit = new Option<int?>("--limit") { Description = $"At most N rows (default {new AuditQuery().Limit}, at most {AuditQuery.MaxLimit})", HelpName = "N", CustomParser = r => Parsers.Parse<int?>(r, text => AuditLimit("limit", text)) };
        var list = new Command("list", "Audit rows, oldest first") { since, project, user, limit };
        list.Aliases.Add("ls");
        list.SetRunAction(global, io, async context =>
        {
            var query = new AuditQuery { Since = context.Get(since), Project = context.Get(project), User = context.Get(user) };
            query = context.Get(limit) is { } n ? query with { Limit = n } : query;
            return await WriteAsync<IReadOnlyList<AuditEntry>>(context, await (await context.ClientAsync()).ListAuditAsync(query), AccessOutput.Audit);
        });
        audit.Subcommands.Add(list);
        return audit;
    }

    /// <summary>A user name: 1–64 of letters, digits, '.', '_', '@' and '-' (an e-mail address qualifies).</summary>
    internal static string User(string field, string text) =>
        UserPattern().IsMatch(text) ? text : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a user name: 1–64 of letters, digits, '.', '_', '@' and '-'");

    /// <summary>A token's id as <c>token list</c> shows it.</summary>
    internal static string TokenId(string field, string text) =>
        TokenIdPattern().IsMatch(text) ? text : throw FabricException.InvalidSpec(field, $"'{Names.Printable(text)}' is not a token id (token list shows them)");

    private static int AuditLimit(string field, string text) =>
        Parsers.PositiveInt(field, text) is var n && n <= AuditQuery.MaxLimit ? n : throw FabricException.InvalidSpec(field, $"{n} is over {AuditQuery.MaxLimit}");

    private static async Task<string> ReadTokenAsync(TextReader input)
    {
        var buffer = new char[FabricApiConnection.MaxTokenLength + 2];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await input.ReadAsync(buffer.AsMemory(length))) > 0)
        {
            length += read;
        }

        return new string(buffer, 0, length);
    }

    // \z, not $: in .NET '$' also matches before a final newline.
    [GeneratedRegex("^[A-Za-z0-9._@-]{1,64}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex UserPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TokenIdPattern();

    /// <summary>What <c>login -o json</c> prints.</summary>
    internal sealed record LoggedIn(string Api, string User, string Project, Role Role, DateTimeOffset? ExpiresAt, string Config);

    /// <summary><c>--vms</c>, <c>--vcpus</c> and <c>--memory</c> of a quota: a number or size, or <c>unlimited</c>.</summary>
    private sealed class QuotaOptions
    {
        private readonly Option<long?> _vms = new("--vms") { Description = "The most VMs the project may have (or 'unlimited')", HelpName = "N", CustomParser = r => Parsers.Parse<long?>(r, text => Parsers.Limit("vms", text)) };
        private readonly Option<long?> _vcpus = new("--vcpus") { Description = "The most vCPUs its VMs may have together (or 'unlimited')", HelpName = "N", CustomParser = r => Parsers.Parse<long?>(r, text => Parsers.Limit("vcpus", text)) };
        private readonly Option<long?> _memory = new("--memory") { Description = "The most memory its VMs may have together, e.g. 64Gi (or 'unlimited')", HelpName = "SIZE", CustomParser = r => Parsers.Parse<long?>(r, text => Parsers.MemoryLimit("memory", text)) };

        public void AddTo(Command command)
        {
            command.Options.Add(_vms);
            command.Options.Add(_vcpus);
            command.Options.Add(_memory);
        }

        public bool Given(CommandContext context) => context.Get(_vms) is not null || context.Get(_vcpus) is not null || context.Get(_memory) is not null;

        /// <summary><paramref name="quota"/> with the limits given on the command line.</summary>
        public ProjectQuota Apply(CommandContext context, ProjectQuota quota) => new ProjectQuota
        {
            Vms = context.Get(_vms) is { } vms ? Limit(vms) : quota.Vms,
            VCpus = context.Get(_vcpus) is { } vcpus ? Limit(vcpus) : quota.VCpus,
            MemoryMiB = context.Get(_memory) is { } memory ? (memory < 0 ? null : memory) : quota.MemoryMiB,
        }.Validate();

        private static int? Limit(long value) => value < 0 ? null : (int)value;
    }
}
