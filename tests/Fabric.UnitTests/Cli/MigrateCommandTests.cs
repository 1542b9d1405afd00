using System.Text.Json;
using Fabric.Cli;
using Fabric.Cli.Output;
using Fabric.Contracts;

namespace Fabric.UnitTests.Cli;

/// <summary><c>vm migrate</c> and <c>host drain</c> on the command line, and the migration result as programs read it.</summary>
public sealed class MigrateCommandTests
{
    private static IReadOnlyList<string> Errors(params string[] args) =>
        [.. Program.CreateRootCommand(CliIo.Capture(TextWriter.Null, TextWriter.Null)).Parse(args).Errors.Select(e => e.Message)];

    [Fact]
    public void Migrate_TakesEveryOption()
    {
        Assert.Empty(Errors("vm", "migrate", "web-1"));
        Assert.Empty(Errors("vm", "migrate", "web-1", "--to", "host-b", "--wait", "--downtime-limit", "50", "--bandwidth", "100Mi/s", "--auto-converge", "--postcopy"));
        Assert.Empty(Errors("vm", "migrate", "web-1", "--cancel", "--wait"));
        Assert.Empty(Errors("host", "drain", "host-a"));
    }

    [Theory]
    [InlineData(new[] { "vm", "migrate", "web-1", "--to", "Host_B" }, "to: ")]
    [InlineData(new[] { "vm", "migrate", "web-1", "--downtime-limit", "0" }, "downtimeLimit: ")]
    [InlineData(new[] { "vm", "migrate", "web-1", "--downtime-limit", "fast" }, "downtimeLimit: ")]
    [InlineData(new[] { "vm", "migrate", "web-1", "--bandwidth", "lots" }, "bandwidth: ")]
    [InlineData(new[] { "vm", "migrate", "web-1", "--cancel", "--to", "host-b" }, "cancel: ")]
    [InlineData(new[] { "vm", "migrate", "Web_1" }, "name: ")]
    [InlineData(new[] { "host", "drain", "../etc" }, "host: ")]
    public void BadValues_AreParseErrorsNamingTheField(string[] args, string field)
    {
        Assert.Contains(Errors(args), e => e.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void Bandwidth_IsBytesPerSecond()
    {
        Assert.Equal(100L << 20, Parsers.BytesPerSecond("bandwidth", "100Mi/s"));
        Assert.Equal(1L << 30, Parsers.BytesPerSecond("bandwidth", "1Gi"));
    }

    [Fact]
    public void Request_RefusesOutOfRangeValuesNamingTheField()
    {
        Assert.StartsWith("downtimeLimit: ", Assert.Throws<FabricException>(() => new MigrationRequest { DowntimeLimitMs = 60_001 }.Validate()).Message, StringComparison.Ordinal);
        Assert.StartsWith("bandwidth: ", Assert.Throws<FabricException>(() => new MigrationRequest { BandwidthBytesPerSecond = 1000 }.Validate()).Message, StringComparison.Ordinal);
        Assert.StartsWith("to: ", Assert.Throws<FabricException>(() => new MigrationRequest { TargetHost = "a/b" }.Validate()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Result_HasTheInterfaceFieldNames()
    {
        var info = new MigrationInfo
        {
            Id = "0123456789ab",
            Vm = "web-1",
            Phase = MigrationPhase.Succeeded,
            From = "host-a",
            To = "host-b",
            TotalMs = 1496,
            DowntimeMs = 13,
            GuestPauseMs = 72,
            TransferredBytes = 95_711_855,
            Passes = 3,
        };

        var json = JsonDocument.Parse(Json.Serialize(info)).RootElement;

        Assert.Equal("host-a", json.GetProperty("from").GetString());
        Assert.Equal("host-b", json.GetProperty("to").GetString());
        Assert.Equal(1496, json.GetProperty("totalMs").GetInt64());
        Assert.Equal(13, json.GetProperty("downtimeMs").GetInt64());
        Assert.Equal(72, json.GetProperty("guestPauseMs").GetInt64());
        Assert.Equal(95_711_855, json.GetProperty("transferredBytes").GetInt64());
        Assert.Equal(3, json.GetProperty("passes").GetInt64());
        Assert.Equal("Succeeded", json.GetProperty("phase").GetString());
    }

    [Fact]
    public void Progress_SaysPassSentLeftAndRates()
    {
        var line = MigrationOutput.Progress(new MigrationInfo
        {
            Id = "x",
            Vm = "web-1",
            Phase = MigrationPhase.Transferring,
            From = "host-a",
            To = "host-b",
            Passes = 2,
            TransferredBytes = 64L << 20,
            RemainingBytes = 1L << 20,
            BytesPerSecond = 100L << 20,
            DirtyBytesPerSecond = 2L << 20,
            ThrottlePercent = 20,
        });

        Assert.Equal("Transferring → host-b: pass 2, 64.0 MiB sent, 1.0 MiB left, 100.0 MiB/s, dirtied 2.0 MiB/s, throttled 20%", line);
    }
}
