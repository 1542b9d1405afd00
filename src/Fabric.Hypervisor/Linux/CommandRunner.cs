using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Fabric.Hypervisor.Linux;

/// <summary>How a command that ran to its end ended, and what it printed.</summary>
internal sealed record CommandResult(int ExitCode, string Output, string Error);

/// <summary>
/// Runs a tool the way this driver runs every tool: an argument list (never a shell), optional text on stdin, stdout
/// and stderr captured and bounded, a timeout, the process killed when the caller cancels, and English messages
/// (<c>LC_ALL=C</c>, so that callers may recognise them). A command that cannot start, overruns its time or prints too
/// much is a <see cref="HypervisorException"/> (<c>Failed</c>); an exit code is the caller's to judge.
/// </summary>
internal static class CommandRunner
{
    /// <param name="program">The program, by path or by name (looked up in <c>PATH</c>).</param>
    /// <param name="arguments">Its arguments, each passed as one argument.</param>
    /// <param name="input">Written to its stdin, which is then closed (closed at once when null).</param>
    /// <param name="timeout">How long it may run; it is killed after.</param>
    /// <param name="maxOutputChars">The most it may print on each of stdout and stderr; it is killed beyond.</param>
    /// <param name="what">The command as messages name it, e.g. <c>qemu-img create /x</c>.</param>
    /// <param name="cancellationToken">Kills the process; the cancellation is rethrown.</param>
    public static async Task<CommandResult> RunAsync(
        string program,
        IEnumerable<string> arguments,
        string? input,
        TimeSpan timeout,
        int maxOutputChars,
        string what,
        CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["LC_ALL"] = "C";

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot run {program}: {ex.Message} (run ./fabric setup)", ex);
        }

        var overflowed = false;
        void Overflow()
        {
            overflowed = true;
            Kill(process);
        }

        var stdout = ReadBoundedAsync(process.StandardOutput, maxOutputChars, Overflow);
        var stderr = ReadBoundedAsync(process.StandardError, maxOutputChars, Overflow);
        var stdin = WriteInputAsync(process.StandardInput, input);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr, stdin).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new HypervisorException(HypervisorErrorKind.Failed, $"{what} did not finish within {timeout.TotalSeconds:0} s");
        }

        await stdin.ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        var error = await stderr.ConfigureAwait(false);
        if (overflowed)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"{what} printed more than {maxOutputChars} characters");
        }

        return new CommandResult(process.ExitCode, output, error);
    }

    /// <summary>Stderr as one line for a message: its lines joined, the last 1000 characters at most.</summary>
    public static string OneLine(string text, Func<string, string>? eachLine = null)
    {
        var said = string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(eachLine ?? (line => line)));
        return said.Length > 1000 ? "…" + said[^1000..] : said;
    }

    private static async Task WriteInputAsync(StreamWriter writer, string? input)
    {
        try
        {
            if (input is not null)
            {
                await writer.WriteAsync(input).ConfigureAwait(false);
            }

            writer.Close();
        }
        catch (IOException)
        {
            // It exited without reading all of its input; its exit code says why.
        }
    }

    private static async Task<string> ReadBoundedAsync(StreamReader reader, int limit, Action overflow)
    {
        var text = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (text.Length + read > limit)
            {
                overflow();
                return text.ToString();
            }

            text.Append(buffer, 0, read);
        }

        return text.ToString();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It has exited already.
        }
    }
}
