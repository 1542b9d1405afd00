using Fabric.Hypervisor;
using Fabric.Hypervisor.Linux;
using Fabric.Hypervisor.Qemu;
using Fabric.TestSupport;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>
/// One test's private data directory (short, under /tmp, so VM socket paths fit the kernel's limit) and the drivers
/// created on it. Disposing detaches the drivers, then kills and reaps every process still naming the directory on
/// its command line, whatever the test did, and deletes the directory.
/// </summary>
internal sealed class QemuSandbox : IAsyncDisposable
{
    private static readonly TimeSpan KillPatience = TimeSpan.FromSeconds(5);

    private readonly ITestOutputHelper _output;
    private readonly List<QemuDriver> _drivers = [];

    public QemuSandbox(ITestOutputHelper output)
    {
        _output = output;
        DataDirectory = Path.Combine("/tmp", $"{TestDirectories.Prefix}e2e-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(DataDirectory);
        DisksDirectory = Path.Combine(DataDirectory, "disks");
        Directory.CreateDirectory(DisksDirectory);
        Logger = new CapturingLogger<QemuDriver>(output);
    }

    public string DataDirectory { get; }

    /// <summary>Where tests make disk files: the drivers of this sandbox take disks from there (<see cref="QemuDriverOptions.DiskRoots"/>), as from a pool.</summary>
    public string DisksDirectory { get; }

    /// <summary>The log of every driver of this sandbox.</summary>
    public CapturingLogger<QemuDriver> Logger { get; }

    /// <summary>
    /// QEMU 7.2's background-snapshot needs userfaultfd, which an unprivileged process (every confined QEMU) gets only
    /// where <c>vm.unprivileged_userfaultfd</c> is 1; elsewhere the driver falls back to a pre-copy (docs/confinement.md).
    /// </summary>
    public static bool UnprivilegedUserfaultfd => File.ReadAllText("/proc/sys/vm/unprivileged_userfaultfd").Trim() == "1";

    public static LaunchSpec Tiny(string vm) => new(vm, Epoch: 1, Guid.NewGuid(), VCpus: 1, MemoryMiB: 16, Image: TestGuestImages.Tiny);

    public static LaunchSpec Linux(string vm) => new(vm, Epoch: 1, Guid.NewGuid(), VCpus: 1, MemoryMiB: 256, Image: TestGuestImages.Linux);

    public static LaunchSpec Memwalk(string vm, int memoryMiB) => new(vm, Epoch: 1, Guid.NewGuid(), VCpus: 1, MemoryMiB: memoryMiB, Image: TestGuestImages.Memwalk);

    public static StopRequest Graceful(TimeSpan gracePeriod) => new(Force: false, gracePeriod);

    public static StopRequest Force { get; } = new(Force: true, TimeSpan.Zero);

    public async Task<QemuDriver> CreateDriverAsync(Action<QemuDriverOptions>? configure = null)
    {
        var options = new QemuDriverOptions { DataDirectory = DataDirectory, ImagesDirectory = TestGuestImages.Directory, DiskRoots = [DisksDirectory] };
        configure?.Invoke(options);
        var driver = await QemuDriver.CreateAsync(options, Logger, CancellationToken.None);
        _drivers.Add(driver);
        return driver;
    }

    /// <summary>Processes (QEMU or anything else) whose command line mentions this sandbox's directory.</summary>
    public IReadOnlyList<int> ProcessesUsingDirectory() => ProcessSweep.Find(DataDirectory);

    public async ValueTask DisposeAsync()
    {
        Exception? failure = null;
        foreach (var driver in _drivers)
        {
            try
            {
                await driver.DisposeAsync();
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }

        foreach (var pid in ProcessesUsingDirectory())
        {
            _output.WriteLine($"clean-up: killing leftover pid {pid}: {string.Join(' ', Processes.Arguments(pid).Take(4))} …");
            await Processes.KillAndReapAsync(pid, KillPatience);
        }

        ProcessSweep.RemoveCgroups(DataDirectory, hostsBelow: false);

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }

        if (failure is not null)
        {
            throw new InvalidOperationException($"disposing a driver failed: {failure.Message}", failure);
        }
    }
}
