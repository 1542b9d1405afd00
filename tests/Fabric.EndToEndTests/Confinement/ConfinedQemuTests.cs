using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Fabric.EndToEndTests.Driver;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Confinement;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Confinement;

/// <summary>What confinement gives every QEMU (docs/confinement.md), checked on real processes from the outside.</summary>
public sealed class ConfinedQemuTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "conf-1";

    [Fact]
    public async Task Launch_RunsQemuAsItsOwnUid_InGroupFabricQemu_Sandboxed_AndInItsCgroup()
    {
        var host = await StartDriverAsync();
        var spec = QemuSandbox.Tiny(Vm);
        var pid = await host.LaunchAsync(spec);

        var status = Status(pid);
        var uid = int.Parse(status["Uid"].Split('\t')[0]);
        Output.WriteLine($"uid {status["Uid"]}, gid {status["Gid"]}, groups '{status["Groups"]}', seccomp {status["Seccomp"]}, threads {status["Threads"]}");
        Assert.NotEqual(0, uid);
        Assert.All(status["Uid"].Split('\t'), u => Assert.Equal(uid, int.Parse(u)));
        Assert.Equal(uid, RecordedUid());
        Assert.All(status["Gid"].Split('\t'), g => Assert.Equal(QemuGroup.Resolve(), int.Parse(g)));
        Assert.Equal("", status["Groups"].Trim());
        Assert.Equal("2", status["Seccomp"]);
        Assert.Equal("1", status["NoNewPrivs"]);
        Assert.Equal("0000000000000000", status["CapBnd"]);

        var lines = File.ReadLines($"/proc/{pid}/cgroup").ToList();
        var memory = (lines.FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("memory")) ?? lines.Single(l => l.StartsWith("0::", StringComparison.Ordinal))).Split(':')[2];
        var cgroup = VmCgroup.Existing(memory.TrimStart('/'));
        Assert.Equal($"fabric/{Path.GetFileName(Sandbox.DataDirectory)}/{Vm}-{spec.InstanceId.ToString("N")[..8]}", cgroup.Relative);
        Assert.Equal((spec.MemoryMiB + QemuMemoryOverheadMiB(spec)) << 20, cgroup.MemoryLimitBytes);
        if (!cgroup.Unified)
        {
            Assert.Equal("100000", Read($"/sys/fs/cgroup/cpu/{cgroup.Relative}/cpu.cfs_period_us"));
            Assert.Equal("100000", Read($"/sys/fs/cgroup/cpu/{cgroup.Relative}/cpu.cfs_quota_us"));
            Assert.Equal("256", Read($"/sys/fs/cgroup/pids/{cgroup.Relative}/pids.max"));
            Output.WriteLine($"pids.current {Read($"/sys/fs/cgroup/pids/{cgroup.Relative}/pids.current")}, memory.usage {cgroup.MemoryUsageBytes >> 20} MiB of {cgroup.MemoryLimitBytes >> 20} MiB");
        }

        await host.StopAsync(Vm, QemuSandbox.Force);
        await host.EndedAsync(Vm, ProcessEnd);
        await WaitUntilAsync(() => !cgroup.Exists, "the cgroup was removed with the process");
    }

    [Fact]
    public async Task Qemu_CannotOpenAFileOutsideItsOwn()
    {
        var host = await StartDriverAsync();
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        var foreign = Path.Combine(Sandbox.DataDirectory, "foreign.raw");
        await File.WriteAllBytesAsync(foreign, new byte[1 << 20]);

        foreach (var path in new[] { foreign, Path.Combine(Sandbox.DataDirectory, "driver.lock"), "/root/.bashrc" })
        {
            var error = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.QmpForTestsAsync(Vm, "blockdev-add", new JsonObject
            {
                ["node-name"] = "probe",
                ["driver"] = "file",
                ["filename"] = path,
            }));
            Output.WriteLine($"{path}: {error.Message}");
            Assert.Contains("Permission denied", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Launch_WithADiskPathThatLeavesItsPlace_IsRefusedBeforeQemuStarts()
    {
        var host = await StartDriverAsync();
        var real = Path.Combine(Sandbox.DisksDirectory, "real.raw");
        await File.WriteAllBytesAsync(real, new byte[1 << 20]);
        var link = Path.Combine(Sandbox.DisksDirectory, "link.raw");
        File.CreateSymbolicLink(link, "/etc/shadow");

        foreach (var path in new[] { link, Path.Combine(Sandbox.DisksDirectory, "sub", "..", "real.raw"), Path.Combine(Sandbox.DataDirectory, "vms", "other", "disk.raw") })
        {
            var spec = QemuSandbox.Tiny(Vm) with { Disks = [new DiskSpec(0, path, "raw", "d0")] };
            var error = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.LaunchAsync(spec, CancellationToken.None));
            Output.WriteLine(error.Message);
            Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
            Assert.Contains("refused before QEMU could open it", error.Message, StringComparison.Ordinal);
            Assert.Empty(Sandbox.ProcessesUsingDirectory());
        }

        Assert.Equal(0, Ownership.Of("/etc/shadow")?.Uid);
    }

    [Fact]
    public async Task Launch_WithADiskOutsideEveryPool_IsRefusedBeforeAnyChown()
    {
        var host = await StartDriverAsync();
        var elsewhere = Path.Combine(Sandbox.DataDirectory, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var plain = Path.Combine(elsewhere, "plain.raw");
        await File.WriteAllBytesAsync(plain, new byte[1 << 20]);

        foreach (var path in new[] { "/etc/shadow", plain })
        {
            var before = Ownership.Of(path);
            var spec = QemuSandbox.Tiny(Vm) with { Disks = [new DiskSpec(3, path, "raw", "d3")] };
            var error = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.LaunchAsync(spec, CancellationToken.None));
            Output.WriteLine(error.Message);
            Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
            Assert.Contains($"disk 3 '{path}' is not in the volumes folder of a storage pool of this host", error.Message, StringComparison.Ordinal);
            Assert.Equal(before, Ownership.Of(path));
            Assert.Empty(Sandbox.ProcessesUsingDirectory());
            Assert.False(Directory.Exists(Path.Combine(Sandbox.DataDirectory, "vms", Vm)));
        }
    }

    [Fact]
    public async Task TheVmDirectoryIsRoots_OnlyTheConsoleLogIsTheVms_AndQemuWritesItsPidFileInItsRunDirectory()
    {
        var host = await StartDriverAsync();
        await host.LaunchAsync(QemuSandbox.Tiny(Vm));
        var uid = RecordedUid();
        var gid = QemuGroup.Resolve();
        var directory = Path.Combine(Sandbox.DataDirectory, "vms", Vm);
        Assert.Equal((0, gid, (UnixFileMode)Convert.ToInt32("710", 8)), Ownership.Of(directory));
        foreach (var record in new[] { "instance.json", "disks.json", "nics.json", "qemu.log" })
        {
            Assert.Equal((0, 0, UnixFileMode.UserRead | UnixFileMode.UserWrite), Ownership.Of(Path.Combine(directory, record)));
        }

        Assert.Equal((uid, gid, UnixFileMode.UserRead | UnixFileMode.UserWrite), Ownership.Of(Path.Combine(directory, "console.log")));
        Assert.False(File.Exists(Path.Combine(directory, "qemu.pid")));
        var runDirectory = Path.GetDirectoryName(Directory.EnumerateFiles(Path.Combine(Sandbox.DataDirectory, "run"), "qemu.pid", SearchOption.AllDirectories).Single())!;
        Assert.Equal(uid, Ownership.Of(runDirectory)?.Uid);
        Assert.Equal(uid, Ownership.Of(Path.Combine(runDirectory, "qemu.pid"))?.Uid);

        // QEMU cannot create anything in the VM's directory, however it tries.
        var error = await Assert.ThrowsAsync<HypervisorException>(() => host.Driver.QmpForTestsAsync(Vm, "pmemsave", new JsonObject
        {
            ["val"] = 0,
            ["size"] = 4096,
            ["filename"] = Path.Combine(directory, "disks.json"),
        }));
        Output.WriteLine(error.Message);
        Assert.Contains("Permission denied", error.Message, StringComparison.Ordinal);

        // A clean quit removes the pid file (QEMU may write its run directory).
        await host.StopAsync(Vm, QemuSandbox.Graceful(TimeSpan.FromSeconds(1)));
        await host.EndedAsync(Vm, ProcessEnd);
        Assert.False(File.Exists(Path.Combine(runDirectory, "qemu.pid")));
    }

    [Fact]
    public async Task AGuestThatOutgrowsItsCgroup_IsOomKilled_AndTheExitSaysSo()
    {
        // The test-only limit sits well below RAM plus overhead, so the guest walking its memory passes it.
        var host = await StartDriverAsync(o => o.MemoryLimitOverrideMiB = 96);
        await host.LaunchAsync(QemuSandbox.Memwalk(Vm, 256));

        var ended = await host.EndedAsync(Vm, TimeSpan.FromSeconds(60));
        Output.WriteLine(ended.Status.Reason);
        Assert.Equal(ProcessPower.Crashed, ended.Status.Power);
        Assert.Equal("QEMU ran out of memory: killed by the memory limit of its cgroup (96 MiB)", ended.Status.Reason);
    }

    [Fact]
    public async Task AGuestWalkingAllItsRam_StaysWithinItsNormalLimit_AndIsNotKilled()
    {
        var host = await StartDriverAsync();
        var spec = QemuSandbox.Memwalk(Vm, 128);
        var pid = await host.LaunchAsync(spec);
        var console = host.Console(Vm);
        await console.WaitForAsync(GuestConsole.Ready(), TinyBoot);
        await console.WaitForAsync(GuestConsole.MemwalkRange(), TinyBoot);
        var cgroup = CgroupOf(pid);

        // Each pass line comes after at least one whole walk over the guest's RAM.
        var first = await console.WaitForAsync(GuestConsole.Pass(), TimeSpan.FromSeconds(20));
        Match last = first;
        for (var i = 0; i < 4; i++)
        {
            last = await console.WaitForAsync(GuestConsole.Pass(), TimeSpan.FromSeconds(20));
        }

        var limit = (spec.MemoryMiB + QemuMemoryOverheadMiB(spec)) << 20;
        var peak = cgroup.MemoryPeakBytes;
        Output.WriteLine($"{first.Value} … {last.Value}: memory peak {peak >> 20} MiB, now {cgroup.MemoryUsageBytes >> 20} MiB, limit {cgroup.MemoryLimitBytes >> 20} MiB, tasks {cgroup.Tasks}");
        Assert.True(last.Count() > first.Count(), $"the pass count did not grow: {first.Value}, then {last.Value}");
        Assert.Equal(limit, cgroup.MemoryLimitBytes);
        Assert.NotNull(peak);
        Assert.InRange(peak!.Value, spec.MemoryMiB << 19, limit);
        Assert.Equal(0, cgroup.OomKills());
        Assert.True(host.Driver.GetStatus(Vm).IsAlive);
    }

    [Fact]
    public async Task ALinuxGuestWithTwoVcpus_RunsFarFewerTasksThanItsPidsLimit()
    {
        var host = await StartDriverAsync();
        var pid = await host.LaunchAsync(QemuSandbox.Linux(Vm) with { VCpus = 2 });
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), LinuxBoot);
        var cgroup = CgroupOf(pid);
        var threads = Status(pid)["Threads"];
        Output.WriteLine($"linux guest, 2 vCPUs, booted: pids.current {cgroup.Tasks}, QEMU threads {threads}, memory {cgroup.MemoryUsageBytes >> 20} MiB");
        Assert.InRange(cgroup.Tasks ?? 0, 1, 64);
    }

    private static VmCgroup CgroupOf(int pid)
    {
        var lines = File.ReadLines($"/proc/{pid}/cgroup").ToList();
        var memory = (lines.FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("memory")) ?? lines.Single(l => l.StartsWith("0::", StringComparison.Ordinal))).Split(':')[2];
        return VmCgroup.Existing(memory.TrimStart('/'));
    }

    private static long QemuMemoryOverheadMiB(LaunchSpec spec) => Fabric.Hypervisor.Qemu.QemuMemoryOverhead.MiB(spec.VCpus, spec.MemoryMiB);

    private int RecordedUid()
    {
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(Sandbox.DataDirectory, "vms", Vm, "instance.json")))!;
        return record["uid"]!.GetValue<int>();
    }

    private static Dictionary<string, string> Status(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());

    private static string Read(string path) => File.ReadAllText(path).Trim();

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var attempt = 0; attempt < 100 && !condition(); attempt++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), what);
    }
}
