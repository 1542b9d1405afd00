using System.Globalization;
using System.Text.RegularExpressions;
using Fabric.Hypervisor.Linux;

namespace Fabric.Hypervisor.Networking;

/// <summary>
/// Runs the network tools (<c>ip</c>, <c>bridge</c>, <c>nft</c>, <c>sysctl</c>, <c>dnsmasq</c>) in the host's network
/// namespace: the current one, or, when <see cref="HostNetworksOptions.Namespace"/> names one, under
/// <c>nsenter --net=/run/netns/NAME</c>. Argument lists only; batches and rulesets go on stdin. A command that exits
/// non-zero is <c>Failed</c>, with the command and what it printed on stderr.
/// </summary>
internal sealed partial class HostCommands(string? networkNamespace)
{
    /// <summary>How long one command may take (they take milliseconds; a namespace under load, a little more).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>The most a command may print: <c>ip -j -d address show</c> of a host with many taps is a few MiB.</summary>
    public const int MaxOutputChars = 64 * 1024 * 1024;

    public string? Namespace { get; } = networkNamespace;

    /// <summary>Runs <paramref name="program"/>; its stdout, or <c>Failed</c> when it exits non-zero.</summary>
    public async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var result = await TryRunAsync(program, arguments, input: null, cancellationToken).ConfigureAwait(false);
        return result.ExitCode == 0 ? result.Output : throw Failure(Describe(program, arguments), result);
    }

    /// <summary>Runs <paramref name="program"/>; how it ended (a start failure, timeout or flood of output still throws).</summary>
    public Task<CommandResult> TryRunAsync(string program, IReadOnlyList<string> arguments, string? input, CancellationToken cancellationToken)
    {
        IEnumerable<string> commandLine = Namespace is null ? arguments : [$"--net=/run/netns/{Namespace}", "--", program, .. arguments];
        return CommandRunner.RunAsync(
            Namespace is null ? program : "nsenter",
            commandLine,
            input,
            Timeout,
            MaxOutputChars,
            Describe(program, arguments),
            cancellationToken);
    }

    /// <summary>
    /// <c>PROGRAM -batch -</c> (ip, bridge) with <paramref name="lines"/> on stdin; nothing runs when there are none.
    /// Runs until the first line that fails, and names that line in the error. The tools split a line on whitespace,
    /// so every line is built only from checked values (derived names, numbers, addresses printed from their parsed
    /// form), none of which can hold whitespace.
    /// </summary>
    public async Task RunBatchAsync(string program, IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
        {
            return;
        }

        var result = await TryRunAsync(program, ["-batch", "-"], string.Join('\n', lines) + "\n", cancellationToken).ConfigureAwait(false);
        if (result.ExitCode == 0)
        {
            return;
        }

        // "Command failed -:3" names the line (1-based) that failed; the ones before it took effect.
        var failed = FailedLine().Match(result.Error);
        var line = failed.Success && int.TryParse(failed.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1 && number <= lines.Count
            ? lines[number - 1]
            : string.Join("; ", lines);
        throw Failure(Describe(program, [.. line.Split(' ')]), result with { Error = FailedLine().Replace(result.Error, string.Empty) });
    }

    /// <summary><c>nft -f -</c> with <paramref name="ruleset"/> on stdin: one transaction, all or nothing.</summary>
    public async Task ApplyRulesetAsync(string ruleset, string what, CancellationToken cancellationToken)
    {
        var result = await TryRunAsync("nft", ["-f", "-"], ruleset, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw Failure($"nft -f - ({what}){Where}", result);
        }
    }

    private string Where => Namespace is null ? string.Empty : $" in network namespace {Namespace}";

    private string Describe(string program, IReadOnlyList<string> arguments) => $"{Path.GetFileName(program)} {string.Join(' ', arguments)}{Where}";

    private static HypervisorException Failure(string what, CommandResult result)
    {
        var said = CommandRunner.OneLine(result.Error);
        return new HypervisorException(
            HypervisorErrorKind.Failed,
            said.Length > 0 ? $"{what}: {said}" : $"{what} failed with exit code {result.ExitCode}");
    }

    [GeneratedRegex("Command failed -:(\\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex FailedLine();
}
