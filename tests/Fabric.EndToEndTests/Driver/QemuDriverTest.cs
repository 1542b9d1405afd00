using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qemu;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// Base of the driver tests: a fresh sandbox (data directory) per test, torn down even when the test fails.
/// These tests run real QEMU (TCG here, KVM where usable) against the images of <c>./fabric images</c>.
/// </summary>
public abstract class QemuDriverTest(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan TinyBoot = TimeSpan.FromSeconds(5);
    protected static readonly TimeSpan LinuxBoot = TimeSpan.FromSeconds(30);
    protected static readonly TimeSpan NextTick = TimeSpan.FromSeconds(3);
    protected static readonly TimeSpan ProcessEnd = TimeSpan.FromSeconds(10);

    private QemuSandbox? _sandbox;

    internal QemuSandbox Sandbox => _sandbox ?? throw new InvalidOperationException("the sandbox exists only while a test runs");

    protected ITestOutputHelper Output { get; } = output;

    public Task InitializeAsync()
    {
        // Fail (never skip) when the images are missing, with the command that builds them.
        _ = TestGuestImages.Directory;
        _sandbox = new QemuSandbox(Output);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_sandbox is not null)
        {
            await _sandbox.DisposeAsync();
        }
    }

    /// <summary>A driver on this test's data directory, its event reader, and a console tail per VM on demand.</summary>
    internal async Task<Harness> StartDriverAsync(Action<QemuDriverOptions>? configure = null) =>
        new(await Sandbox.CreateDriverAsync(configure));

    protected static void AssertProcessGone(int pid)
    {
        Assert.False(Processes.IsAlive(pid), $"QEMU pid {pid} still runs");
        Assert.False(Directory.Exists($"/proc/{pid}"), $"QEMU pid {pid} is a zombie nobody reaped");
    }

    internal sealed class Harness(QemuDriver driver)
    {
        public QemuDriver Driver { get; } = driver;

        public DriverEvents Events { get; } = new(driver.Events);

        public ConsoleTail Console(string vm) => new(Driver, vm);

        /// <summary>Launches and returns the pid, which a running process must have.</summary>
        public async Task<int> LaunchAsync(LaunchSpec spec)
        {
            var status = await Driver.LaunchAsync(spec, CancellationToken.None);
            Assert.Equal(ProcessPower.Running, status.Power);
            return status.Pid ?? throw new InvalidOperationException($"a running process without a pid: {status}");
        }

        public Task StopAsync(string vm, StopRequest request) => Driver.StopAsync(vm, request, CancellationToken.None);

        public Task<ProcessEvent> EndedAsync(string vm, TimeSpan timeout) =>
            Events.WaitForAsync(vm, status => status.Power is ProcessPower.ShutDown or ProcessPower.Crashed, timeout);
    }
}
