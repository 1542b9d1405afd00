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
        private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

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

        /// <summary>A pre-copy live migration from this driver to <paramref name="target"/>'s on loopback, uncapped: the target listens, this one sends.</summary>
        public async Task SendMemoryAsync(Harness target, string vm)
        {
            var features = new MigrationFeatures(Postcopy: false);
            var uri = await target.Driver.ListenAsync(vm, "127.0.0.1", features, CancellationToken.None);
            await Driver.SendAsync(vm, uri, new MigrationSettings(features, AutoConverge: false, DowntimeLimit: null, BandwidthBytesPerSecond: null), CancellationToken.None);
        }

        /// <summary>Polls the VM's migration until <paramref name="condition"/> holds (by default: until it has finished).</summary>
        public async Task<MigrationProgress> WaitForMigrationAsync(string vm, TimeSpan timeout, Func<MigrationProgress, bool>? condition = null)
        {
            condition ??= progress => progress.IsFinished;
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var progress = await Driver.QueryAsync(vm, CancellationToken.None);
                if (condition(progress))
                {
                    return progress;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the migration of vm '{vm}' did not get there within {timeout.TotalSeconds:0} s: {progress}");
                await Task.Delay(Poll);
            }
        }

        /// <summary>Polls the VM's one disk mirror until <paramref name="condition"/> holds; an error fails the wait unless it is what is asked for.</summary>
        public async Task<DiskMirrorProgress> WaitForMirrorAsync(string vm, TimeSpan timeout, Func<DiskMirrorProgress, bool> condition)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                var progress = Assert.Single(await Driver.QueryMirrorAsync(vm, CancellationToken.None));
                if (condition(progress))
                {
                    return progress;
                }

                Assert.True(progress.Error is null, $"the mirror of vm '{vm}' failed: {progress.Error}");
                Assert.True(DateTime.UtcNow < deadline, $"the mirror of vm '{vm}' did not get there within {timeout.TotalSeconds:0} s: {progress}");
                await Task.Delay(Poll);
            }
        }
    }
}
