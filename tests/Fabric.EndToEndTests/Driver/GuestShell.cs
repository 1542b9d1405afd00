using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Commands typed into the linux guest's root shell on its serial console. Each command's result comes back as a
/// marker line: <c>echo "__rc7""_$?__"</c> prints <c>__rc7_0__</c>, while the shell's echo of the typed line shows
/// <c>__rc7""_$?__</c>, which the marker's pattern cannot match. Lines are consumed through the VM's
/// <see cref="ConsoleTail"/>, in order.
/// </summary>
internal sealed class GuestShell(string vm, IGuestConsoleLink console)
{
    private int _next;

    /// <summary>Through the driver: typed into the console input, read back from the log as it grows.</summary>
    public GuestShell(IHypervisorDriver driver, string vm, ConsoleTail console)
        : this(vm, new DriverConsoleLink(driver, vm, console))
    {
    }

    public IGuestConsoleLink Console => console;

    /// <summary>The boot id of the guest's ready line, when the caller read it.</summary>
    public string Boot { get; init; } = "";

    /// <summary>How long a command may take when its caller names no time.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="command"/> and returns its exit status.</summary>
    public async Task<int> RunAsync(string command, TimeSpan? timeout = null)
    {
        var tag = $"rc{Interlocked.Increment(ref _next)}x{Random.Shared.Next():x}";
        await SendAsync($"{command}; echo \"__{tag}\"\"_$?__\"");
        var match = await console.WaitForAsync(new Regex($"__{tag}_(?<v>\\d+)__"), timeout ?? StepTimeout);
        return int.Parse(match.Groups["v"].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Runs <paramref name="command"/> and fails unless it exits 0.</summary>
    public async Task MustAsync(string command, TimeSpan? timeout = null)
    {
        var status = await RunAsync(command, timeout);
        Assert.True(status == 0, $"'{command}' exited {status} in vm '{vm}'. {console.Evidence()}");
    }

    /// <summary>The value of a shell expression (e.g. <c>$(cat /sys/block/vda/size)</c>), read back from one line.</summary>
    public async Task<string> ValueAsync(string expression, TimeSpan? timeout = null)
    {
        var tag = $"v{Interlocked.Increment(ref _next)}x{Random.Shared.Next():x}";
        await SendAsync($"echo \"__{tag}\"\"_{expression}__\"");
        var match = await console.WaitForAsync(new Regex($"__{tag}_(?<v>.*)__"), timeout ?? StepTimeout);
        return match.Groups["v"].Value;
    }

    /// <summary>Fails, with the console's last lines, unless the shell expression's value is <paramref name="expected"/>.</summary>
    public async Task ExpectValueAsync(string expected, string expression)
    {
        var value = await ValueAsync(expression);
        Assert.True(value == expected, $"'{expression}' is '{value}' in vm '{vm}', not '{expected}'. {console.Evidence()}");
    }

    /// <summary>The SHA-256 of a guest file (or device), as <c>sha256sum</c> prints it.</summary>
    public async Task<string> Sha256Async(string path)
    {
        var sum = await ValueAsync($"$(sha256sum {path} | cut -d' ' -f1)");
        Assert.Matches("^[0-9a-f]{64}$", sum);
        return sum;
    }

    private Task SendAsync(string line) => console.SendLineAsync(line);
}

/// <summary>A guest's serial console as a shell needs it: a line typed in, a line waited for, and what was seen.</summary>
internal interface IGuestConsoleLink
{
    Task SendLineAsync(string line);

    Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout);

    string Evidence();
}

/// <summary>The console through a driver (<see cref="IGuestConsole"/>), read with a <see cref="ConsoleTail"/>.</summary>
internal sealed class DriverConsoleLink(IHypervisorDriver driver, string vm, ConsoleTail tail) : IGuestConsoleLink
{
    private readonly IGuestConsole _input = driver.Capability<IGuestConsole>() ?? throw new InvalidOperationException($"the {driver.Kind} driver has no console");

    public Task SendLineAsync(string line) => _input.SendConsoleAsync(vm, Encoding.ASCII.GetBytes(line + "\n"), CancellationToken.None);

    public Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout) => tail.WaitForAsync(pattern, timeout);

    public string Evidence() => tail.Evidence();
}
