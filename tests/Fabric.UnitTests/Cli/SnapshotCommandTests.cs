using System.Text.Json;
using Fabric.Cli;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.UnitTests.Cli;

/// <summary><c>vm snapshot create|list|restore|delete</c>: what the command line accepts, and what it prints.</summary>
public sealed class SnapshotCommandTests
{
    private static readonly SnapshotInfo Taken = new()
    {
        Name = "before-upgrade",
        Vm = "web-1",
        Host = "host-a",
        CreatedAt = new DateTimeOffset(2026, 11, 30, 12, 1, 2, TimeSpan.Zero),
        SizeBytes = 94_018_881,
        GuestPauseMs = 3,
        TotalMs = 2785,
        WasRunning = true,
        MemoryMiB = 256,
        Method = "background-snapshot",
    };

    private static IReadOnlyList<string> Errors(params string[] args) =>
        [.. Program.CreateRootCommand(CliIo.Capture(TextWriter.Null, TextWriter.Null)).Parse(args).Errors.Select(e => e.Message)];

    [Theory]
    [InlineData("create")]
    [InlineData("restore")]
    [InlineData("delete")]
    public void CreateRestoreDelete_TakeAVmAndASnapshot(string verb)
    {
        Assert.Empty(Errors("vm", "snapshot", verb, "web-1", "before-upgrade"));
        Assert.Empty(Errors("vm", "snapshot", verb, "web-1", "s1", "-o", "json"));
        Assert.NotEmpty(Errors("vm", "snapshot", verb, "web-1"));
        Assert.NotEmpty(Errors("vm", "snapshot", verb));
        Assert.NotEmpty(Errors("vm", "snapshot", verb, "web-1", "s1", "s2"));
    }

    [Fact]
    public void List_TakesAVmOnly()
    {
        Assert.Empty(Errors("vm", "snapshot", "list", "web-1"));
        Assert.Empty(Errors("vm", "snapshot", "ls", "web-1", "-o", "json"));
        Assert.NotEmpty(Errors("vm", "snapshot", "list"));
        Assert.NotEmpty(Errors("vm", "snapshot", "list", "web-1", "s1"));
    }

    [Theory]
    [InlineData(new[] { "vm", "snapshot", "create", "web-1", "Before_Upgrade" }, "snapshot: ")]
    [InlineData(new[] { "vm", "snapshot", "create", "web-1", "../../etc/passwd" }, "snapshot: ")]
    [InlineData(new[] { "vm", "snapshot", "restore", "web-1", "s1.state" }, "snapshot: ")]
    [InlineData(new[] { "vm", "snapshot", "delete", "web-1", "-s1" }, "snapshot: ")]
    [InlineData(new[] { "vm", "snapshot", "create", "Web_1", "s1" }, "name: ")]
    [InlineData(new[] { "vm", "snapshot", "list", "web/1" }, "name: ")]
    public void BadNames_AreParseErrorsNamingTheField(string[] args, string field)
    {
        Assert.Contains(Errors(args), e => e.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ABadSnapshotName_IsOneErrorLineAndExitCode2()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await Program.RunAsync(["vm", "snapshot", "create", "web-1", "A/B"], CliIo.Capture(stdout, stderr, TextReader.Null));

        Assert.Equal(2, code);
        Assert.Empty(stdout.ToString());
        Assert.StartsWith("error: invalid-spec: snapshot: 'A/B' is not a valid name", stderr.ToString(), StringComparison.Ordinal);
        Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Create_PrintsThePauseSizeAndTime()
    {
        var lines = Render(console => SnapshotOutput.Details(console, Taken));

        Assert.Contains(lines, l => Words(l) is ["Snapshot:", "before-upgrade"]);
        Assert.Contains(lines, l => Words(l) is ["Guest", "pause:", "3", "ms"]);
        Assert.Contains(lines, l => Words(l) is ["Size:", "89.7", "MiB"]);
        Assert.Contains(lines, l => Words(l) is ["Time:", "2785", "ms"]);
        Assert.Contains(lines, l => Words(l) is ["Guest:", "running"]);
        Assert.Contains(lines, l => Words(l) is ["Method:", "background-snapshot"]);
    }

    [Fact]
    public void List_IsATableWithOneRowPerSnapshot_AndAPausedGuestHadNoPause()
    {
        var paused = Taken with { Name = "paused-1", GuestPauseMs = null, WasRunning = false, TotalMs = 60 };
        var lines = Render(console => SnapshotOutput.List(console, [Taken, paused]));

        Assert.Equal(["NAME", "HOST", "CREATED", "SIZE", "GUEST", "PAUSE", "TIME", "GUEST", "MEMORY"], Words(lines[0]));
        Assert.Equal("before-upgrade", Words(lines[1])[0]);
        Assert.Contains("3 ms", lines[1], StringComparison.Ordinal);
        Assert.Contains("89.7 MiB", lines[1], StringComparison.Ordinal);
        Assert.Contains("256Mi", lines[1], StringComparison.Ordinal);
        Assert.Equal("paused-1", Words(lines[2])[0]);
        Assert.Contains("none (paused)", lines[2], StringComparison.Ordinal);
        Assert.All(lines, line => Assert.Equal(line.TrimEnd(), line));
    }

    [Fact]
    public void Restored_ShowsTheVmsNewInstanceAndState()
    {
        var vm = new VmInfo { Name = "web-1", State = VmState.Running, Host = "host-a", VCpus = 1, MemoryMiB = 256, Image = "linux", InstanceId = Guid.Parse("0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01"), Pid = 4242 };
        var lines = Render(console => SnapshotOutput.Restored(console, vm, "before-upgrade", TimeSpan.FromMilliseconds(1234)));

        Assert.Contains(lines, l => Words(l) is ["State:", "Running"]);
        Assert.Contains(lines, l => Words(l) is ["Instance:", "0b6e4c3e-8f5e-4d59-9a52-2f7c3c1d7e01"]);
        Assert.Contains(lines, l => Words(l) is ["Time:", "1234", "ms"]);
    }

    [Fact]
    public void Json_HasTheSnapshotFieldNames()
    {
        var json = JsonDocument.Parse(Json.Serialize(Taken)).RootElement;

        Assert.Equal(
            ["name", "vm", "host", "createdAt", "sizeBytes", "guestPauseMs", "totalMs", "wasRunning", "memoryMiB", "method"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(3, json.GetProperty("guestPauseMs").GetInt64());
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(Json.Serialize(Taken with { GuestPauseMs = null })).RootElement.GetProperty("guestPauseMs").ValueKind);
    }

    private static string[] Render(Action<Spectre.Console.IAnsiConsole> write)
    {
        using var writer = new StringWriter();
        write(Consoles.ForTables(writer, isTerminal: false));
        return writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
