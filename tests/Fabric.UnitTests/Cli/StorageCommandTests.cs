using Fabric.Cli;

namespace Fabric.UnitTests.Cli;

/// <summary><c>pool</c>, <c>volume</c>, <c>image</c> and <c>vm disk</c> on the command line.</summary>
public sealed class StorageCommandTests
{
    private static IReadOnlyList<string> Errors(params string[] args) =>
        [.. Program.CreateRootCommand(CliIo.Capture(TextWriter.Null, TextWriter.Null)).Parse(args).Errors.Select(e => e.Message)];

    [Fact]
    public void EveryCommand_TakesItsDocumentedOptions()
    {
        Assert.Empty(Errors("pool", "create", "data", "--type", "shared", "--path", "/srv/data", "--capacity", "10Gi", "--overcommit", "1.5", "--quota-per-vm", "2Gi"));
        Assert.Empty(Errors("pool", "create", "scratch", "--type", "local", "--path", "/srv/scratch"));
        Assert.Empty(Errors("pool", "get", "data"));
        Assert.Empty(Errors("pool", "list"));
        Assert.Empty(Errors("pool", "delete", "data"));
        Assert.Empty(Errors("volume", "create", "data", "db", "--size", "1Gi"));
        Assert.Empty(Errors("volume", "create", "data", "db", "--from-image", "debian", "--full", "--host", "host-a"));
        Assert.Empty(Errors("volume", "list"));
        Assert.Empty(Errors("volume", "list", "data"));
        Assert.Empty(Errors("volume", "get", "data", "db"));
        Assert.Empty(Errors("volume", "resize", "data", "db", "2Gi"));
        Assert.Empty(Errors("volume", "delete", "data", "db"));
        Assert.Empty(Errors("image", "import", "debian", "/srv/images/debian.qcow2", "--pool", "data"));
        Assert.Empty(Errors("image", "list"));
        Assert.Empty(Errors("vm", "disk", "attach", "web-1", "data/db"));
        Assert.Empty(Errors("vm", "disk", "detach", "web-1", "data/db"));
        Assert.Empty(Errors("vm", "create", "web-1", "--image", "linux", "--disk", "data:1Gi", "--disk", "data/db", "--disk", "data:2Gi:debian"));
        Assert.Empty(Errors("net", "create", "blue", "--cidr", "10.10.0.0/24", "--gateway", "10.10.0.254", "--dhcp", "off", "--mtu", "1400", "--exclusive"));
        Assert.Empty(Errors("net", "get", "blue"));
        Assert.Empty(Errors("net", "list"));
        Assert.Empty(Errors("net", "delete", "blue"));
        Assert.Empty(Errors("net", "rule", "add", "blue", "--protocol", "tcp", "--port", "5000-5010", "--from", "10.10.0.0/24"));
        Assert.Empty(Errors("net", "rule", "add", "blue", "--protocol", "icmp"));
        Assert.Empty(Errors("net", "rule", "remove", "blue", "2"));
        Assert.Empty(Errors("net", "rule", "list", "blue"));
        Assert.Empty(Errors("vm", "nic", "attach", "web-1", "blue"));
        Assert.Empty(Errors("vm", "nic", "attach", "web-1", "blue:10.10.0.9"));
        Assert.Empty(Errors("vm", "nic", "detach", "web-1", "blue"));
        Assert.Empty(Errors("vm", "create", "web-1", "--image", "linux", "--network", "blue", "--network", "red:10.20.0.5"));
    }

    [Theory]
    [InlineData(new[] { "net", "create", "blue", "--cidr", "10.10.0.0/30" }, "cidr: ")]
    [InlineData(new[] { "net", "create", "blue", "--cidr", "10.10.0.0/24", "--dhcp", "maybe" }, "dhcp: ")]
    [InlineData(new[] { "net", "create", "../blue", "--cidr", "10.10.0.0/24" }, "network: ")]
    [InlineData(new[] { "net", "rule", "add", "blue", "--protocol", "gre" }, "protocol: ")]
    [InlineData(new[] { "net", "rule", "add", "blue", "--protocol", "tcp", "--port", "80-" }, "port: ")]
    [InlineData(new[] { "vm", "create", "web-1", "--image", "linux", "--network", "blue:10.10.0" }, "network[0].ip: ")]
    [InlineData(new[] { "vm", "nic", "attach", "web-1", "Blue" }, "network.network: ")]
    public void NetworkCommands_RefuseBadInput_NamingTheField(string[] args, string prefix) =>
        Assert.Contains(Errors(args), e => e.StartsWith(prefix, StringComparison.Ordinal));

    [Theory]
    [InlineData(new[] { "pool", "create", "data", "--type", "nfs", "--path", "/srv" }, "type: ")]
    [InlineData(new[] { "pool", "create", "data", "--type", "local", "--path", "srv/data" }, "path: ")]
    [InlineData(new[] { "pool", "create", "data", "--type", "local", "--path", "/srv/../etc" }, "path: ")]
    [InlineData(new[] { "pool", "create", "data", "--type", "local", "--path", "/srv", "--overcommit", "0.5" }, "overcommit: ")]
    [InlineData(new[] { "pool", "create", "data", "--type", "local", "--path", "/srv", "--capacity", "big" }, "capacity: ")]
    [InlineData(new[] { "volume", "create", "data", "../db", "--size", "1Gi" }, "volume: ")]
    [InlineData(new[] { "volume", "create", "data", "db", "--size", "1.5Gi" }, "size: ")]
    [InlineData(new[] { "volume", "resize", "data", "db", "huge" }, "size: ")]
    [InlineData(new[] { "image", "import", "debian", "relative.qcow2" }, "file: ")]
    [InlineData(new[] { "image", "import", "Debian", "/srv/d.qcow2" }, "image: ")]
    [InlineData(new[] { "vm", "disk", "attach", "web-1", "data:1Gi" }, "volume: ")]
    [InlineData(new[] { "vm", "create", "web-1", "--image", "linux", "--disk", "data" }, "disk[0]: ")]
    [InlineData(new[] { "vm", "create", "web-1", "--image", "linux", "--disk", "data:1Gi", "--disk", "x/../y" }, "disk[1]")]
    public void BadValues_AreParseErrorsNamingTheField(string[] args, string field) =>
        Assert.Contains(Errors(args), e => e.StartsWith(field, StringComparison.Ordinal));
}
