using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>Keeps every log entry for assertions and failure messages, and echoes it to the test output.</summary>
internal sealed class CapturingLogger<T>(ITestOutputHelper output) : ILogger<T>
{
    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyCollection<string> Entries => _entries;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var entry = $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel}: {formatter(state, exception)}";
        _entries.Enqueue(entry);
        try
        {
            output.WriteLine(entry);
        }
        catch (InvalidOperationException)
        {
            // Logged after the test finished (a monitor noticing the clean-up).
        }
    }
}
