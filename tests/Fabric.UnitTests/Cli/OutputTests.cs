using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.UnitTests.Cli;

/// <summary>What people read: error lines, event lines and tables.</summary>
public sealed class OutputTests
{
    private static readonly VmInfo Vm = new()
    {
        Name = "web-1",
        State = VmState.Running,
        Host = "host-a",
        VCpus = 2,
        MemoryMiB = 2048,
        Image = "tiny",
    };

    [Fact]
    public void ErrorLine_IsCodeThenMessage()
    {
        Assert.Equal("error: not-found: vm 'web-1' does not exist", ErrorLine.Format(FabricException.NotFound("vm", "web-1")));
        Assert.Equal("error: invalid-spec: memory: too big", ErrorLine.Format(FabricException.InvalidSpec("memory", "too big")));
    }

    [Fact]
    public void ErrorLine_IsAlwaysOneLine()
    {
        Assert.Equal("error: unavailable: first second", ErrorLine.Format(FabricException.Unavailable("first\r\n  second\n")));
    }

    [Fact]
    public void ErrorLine_NamesTheTypeOfAnUnexpectedException()
    {
        Assert.Equal("error: internal: InvalidOperationException: boom", ErrorLine.Format(new InvalidOperationException("boom")));
    }

    [Fact]
    public void BulkFailureLine_CountsFailuresAndKeepsASharedCode()
    {
        BulkResultView[] results =
        [
            new("a", true, null, null, VmState.Running, "host-a"),
            new("b", false, ErrorCodes.Conflict, "vm 'b' is Stopped", null, null),
            new("c", false, ErrorCodes.Conflict, "vm 'c' is Stopped", null, null),
        ];

        Assert.Equal("error: conflict: 2 of 3 VMs failed; first: vm 'b': conflict: vm 'b' is Stopped", BulkOutput.FailureLine(results));
        Assert.Null(BulkOutput.FailureLine([results[0]]));
    }

    [Fact]
    public void EventLine_ShowsTimeKindSubjectAndTransition()
    {
        var at = new DateTimeOffset(2025, 1, 2, 13, 4, 5, 67, TimeSpan.Zero);

        Assert.Equal(
            "13:04:05.067 VmStateChanged web-1/host-a Running -> Stopped guest powered off",
            EventOutput.Line(new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = at, Vm = "web-1", Host = "host-a", From = "Running", To = "Stopped", Reason = "guest powered off" }, TimeZoneInfo.Utc));
        Assert.Equal(
            "13:04:05.067 HostStateChanged -/host-a Ready -> Cordoned",
            EventOutput.Line(new FleetEvent { Kind = FleetEventKind.HostStateChanged, At = at, Host = "host-a", From = "Ready", To = "Cordoned" }, TimeZoneInfo.Utc));
    }

    [Fact]
    public void VmList_MarksAnUnreachableVm()
    {
        var lines = Render(console => VmOutput.List(console, [Vm, Vm with { Name = "web-2", Reachable = false }]));

        Assert.Equal(["NAME", "STATE", "HOST", "PROJECT", "VCPU", "MEMORY", "IMAGE", "LABELS"], Words(lines[0]));
        Assert.Equal(["web-1", "Running", "host-a", "default", "2", "2Gi", "tiny", "-"], Words(lines[1]));
        Assert.Contains("Running (unreachable)", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public void HostList_ShowsAddressShortMachineAndAllocationOverCapacity()
    {
        var host = new HostInfo
        {
            Name = "host-a",
            State = HostState.Ready,
            Address = "10.213.0.10",
            Machine = "3d1219c7c4c5404aaa1f6d2a48adfda4",
            Capacity = new Resources(8, 4096),
            Allocated = new Resources(2, 512),
            VmCount = 2,
            Driver = "qemu",
            Accelerator = "tcg",
            Labels = System.Collections.Immutable.ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("zone", "a")]),
        };

        var lines = Render(console => HostOutput.List(console, [host]));

        Assert.Equal(["NAME", "STATE", "ADDRESS", "MACHINE", "VMS", "VCPU(alloc/cap)", "MEMORY(alloc/cap)", "DRIVER", "ACCEL", "LABELS"], Words(lines[0]));
        Assert.Equal(["host-a", "Ready", "10.213.0.10", "3d1219c7c4c5", "2", "2/8", "512Mi/4Gi", "qemu", "tcg", "zone=a"], Words(lines[1]));
    }

    [Fact]
    public void HostDetails_ShowAddressMachineAndUnmanagedProcesses()
    {
        var host = new HostInfo
        {
            Name = "host-b",
            State = HostState.Ready,
            Capacity = new Resources(8, 4096),
            Allocated = Resources.Zero,
            Address = "10.213.0.11",
            Machine = "another-machine",
            Unmanaged = [new UnmanagedProcess("left-behind", 4242, 7, Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01"))],
        };

        var lines = Render(console => HostOutput.Details(console, host));

        Assert.Contains(lines, l => Words(l) is ["Address:", "10.213.0.11"]);
        Assert.Contains(lines, l => Words(l) is ["Machine:", "another-machine"]);
        Assert.Contains(lines, l => l.StartsWith("Unmanaged QEMU processes", StringComparison.Ordinal));
        Assert.Contains(lines, l => Words(l) is ["left-behind", "4242", "7", "0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01"]);
    }

    [Fact]
    public void Tables_HaveNoTrailingBlanksAndReadMarkupAsText()
    {
        var lines = Render(console => VmOutput.List(console, [Vm with { Reason = "[bold]x[/]" }]));
        var details = Render(console => VmOutput.Details(console, Vm with { Reason = "[red]crashed[/]" }));

        Assert.All(lines, line => Assert.Equal(line.TrimEnd(), line));
        Assert.Contains(details, line => line.EndsWith("[red]crashed[/]", StringComparison.Ordinal));
    }

    private static string[] Render(Action<Spectre.Console.IAnsiConsole> write)
    {
        using var writer = new StringWriter();
        write(Consoles.ForTables(writer, isTerminal: false));
        return writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
