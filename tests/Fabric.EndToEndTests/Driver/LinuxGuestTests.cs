using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Fabric.Hypervisor;
using Xunit.Abstractions;

namespace Fabric.EndToEndTests.Driver;

/// <summary>The Debian-kernel guest: its shell on the serial console and its ACPI power button.</summary>
public sealed class LinuxGuestTests(ITestOutputHelper output) : QemuDriverTest(output)
{
    private const string Vm = "linux-1";

    [Fact]
    public async Task Console_RunsACommandTypedIntoTheGuestShell()
    {
        var host = await StartDriverAsync();
        await host.LaunchAsync(QemuSandbox.Linux(Vm));
        var console = host.Console(Vm);
        await console.WaitForAsync(GuestConsole.Ready(), LinuxBoot);

        await host.Driver.SendConsoleAsync(Vm, Encoding.ASCII.GetBytes("echo hello-$((6*7))\n"), CancellationToken.None);

        // The shell echoes the typed line (with the unexpanded $((6*7))); only its output says hello-42.
        await console.WaitForAsync(new Regex(@"(^|\s)hello-42$"), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task GracefulStop_PowersTheGuestOffThroughAcpi()
    {
        var host = await StartDriverAsync();
        var pid = await host.LaunchAsync(QemuSandbox.Linux(Vm));

        // The ready line comes after acpid has started, so the power button is heard from here on.
        await host.Console(Vm).WaitForAsync(GuestConsole.Ready(), LinuxBoot);
        var grace = TimeSpan.FromSeconds(20);
        var stopping = Stopwatch.StartNew();
        await host.StopAsync(Vm, QemuSandbox.Graceful(grace));
        var ended = await host.EndedAsync(Vm, grace + ProcessEnd);

        Output.WriteLine($"guest powered off after {stopping.ElapsedMilliseconds} ms");
        Assert.Equal(ProcessPower.ShutDown, ended.Status.Power);
        Assert.Equal("guest powered off", ended.Status.Reason);
        Assert.True(stopping.Elapsed < grace, "the driver escalated instead of letting the guest power off");
        AssertProcessGone(pid);
    }
}
