using System.Diagnostics;

namespace Fabric.TestSupport;

/// <summary>A process the tests start, with its output appended to a log file, and killed for sure when disposed.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logLock = new();
    private readonly List<(string Text, int Count, TaskCompletionSource Seen)> _awaited = [];

    // Lines are kept for the waits; test and benchmark processes log little at the levels they run with.
    private readonly List<string> _lines = [];

    private ChildProcess(Process process, StreamWriter log, string logPath)
    {
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public int Pid => _process.Id;

    public string LogPath { get; }

    public bool HasExited => _process.HasExited;

    public static ChildProcess Start(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string logPath)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = startInfo };
        var child = new ChildProcess(process, log, logPath);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>
    /// Completes once the process has printed <paramref name="count"/> lines containing <paramref name="text"/>, counting
    /// from its start; fails when it exits first or the time runs out.
    /// </summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout, int count = 1)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_logLock)
        {
            if (_lines.Count(l => l.Contains(text, StringComparison.Ordinal)) >= count)
            {
                return;
            }

            _awaited.Add((text, count, seen));
        }

        var first = await Task.WhenAny(seen.Task, _process.WaitForExitAsync(), Task.Delay(timeout));
        if (first != seen.Task)
        {
            throw new InvalidOperationException(_process.HasExited
                ? $"{_process.StartInfo.FileName} exited with code {_process.ExitCode} before printing '{text}' (log: {LogPath})"
                : $"'{text}' not printed {count} time(s) within {timeout.TotalSeconds:0} s (log: {LogPath})");
        }
    }

    /// <summary>Waits for the process to exit on its own; returns its exit code, or throws <see cref="TimeoutException"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    /// <summary>The lines the process printed so far that contain <paramref name="text"/>.</summary>
    public IReadOnlyList<string> LinesContaining(string text)
    {
        lock (_logLock)
        {
            return [.. _lines.Where(l => l.Contains(text, StringComparison.Ordinal))];
        }
    }

    /// <summary>SIGKILL, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            try
            {
                await _process.WaitForExitAsync().WaitAsync(grace);
            }
            catch (TimeoutException)
            {
                await KillAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        lock (_logLock)
        {
            _log.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logLock)
        {
            _log.WriteLine(line);
            _lines.Add(line);
            foreach (var (text, count, seen) in _awaited.ToList())
            {
                if (line.Contains(text, StringComparison.Ordinal) && _lines.Count(l => l.Contains(text, StringComparison.Ordinal)) >= count)
                {
                    seen.TrySetResult();
                    _awaited.RemoveAll(a => a.Seen == seen);
                }
            }
        }
    }
}
