using Fabric.Cli;

namespace Fabric.UnitTests.Cli;

/// <summary>What the command line accepts, checked by parsing alone: no fabric is needed.</summary>
public sealed class CommandLineTests
{
    private static IReadOnlyList<string> Errors(params string[] args) =>
        [.. Program.CreateRootCommand(CliIo.Capture(TextWriter.Null, TextWriter.Null)).Parse(args).Errors.Select(e => e.Message)];

    [Theory]
    [InlineData("start")]
    [InlineData("stop")]
    [InlineData("pause")]
    [InlineData("resume")]
    [InlineData("reboot")]
    [InlineData("delete")]
    public void Lifecycle_AcceptsANameOrASelector(string verb)
    {
        Assert.Empty(Errors("vm", verb, "web-1"));
        Assert.Empty(Errors("vm", verb, "--selector", "app=web,tier=front"));
        Assert.Empty(Errors("vm", verb, "-l", "app=web"));
    }

    [Theory]
    [InlineData("start")]
    [InlineData("delete")]
    public void Lifecycle_RequiresExactlyOneOfNameAndSelector(string verb)
    {
        Assert.Contains(Errors("vm", verb), e => e.StartsWith("name: ", StringComparison.Ordinal) && e.Contains("--selector", StringComparison.Ordinal));
        Assert.Contains(Errors("vm", verb, "web-1", "--selector", "app=web"), e => e.StartsWith("name: ", StringComparison.Ordinal) && e.Contains("not both", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("app")]
    [InlineData("=web")]
    [InlineData("app=web,app=db")]
    public void Lifecycle_RejectsAnEmptyOrMalformedSelector(string selector)
    {
        Assert.Contains(Errors("vm", "stop", "--selector", selector), e => e.StartsWith("selector: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Lifecycle_RejectsAnInvalidVmName()
    {
        Assert.Contains(Errors("vm", "start", "Web_1"), e => e.StartsWith("name: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Stop_TakesForceAndGraceSeconds()
    {
        Assert.Empty(Errors("vm", "stop", "web-1", "--force"));
        Assert.Empty(Errors("vm", "stop", "web-1", "--grace", "2.5"));
        Assert.Contains(Errors("vm", "stop", "web-1", "--grace", "soon"), e => e.StartsWith("grace: ", StringComparison.Ordinal));
        Assert.NotEmpty(Errors("vm", "start", "web-1", "--force"));
    }

    [Fact]
    public void Delete_TakesForce_AndOnlyDeleteAndStopDo()
    {
        Assert.Empty(Errors("vm", "delete", "web-1", "--force"));
        Assert.Empty(Errors("vm", "delete", "--selector", "app=web", "--force"));
        Assert.NotEmpty(Errors("vm", "pause", "web-1", "--force"));
    }

    [Fact]
    public void HostForget_TakesOneValidHostName()
    {
        Assert.Empty(Errors("host", "forget", "host-b"));
        Assert.NotEmpty(Errors("host", "forget"));
        Assert.Contains(Errors("host", "forget", "Host_B"), e => e.StartsWith("host: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_TakesASpecFromOptions()
    {
        Assert.Empty(Errors(
            "vm", "create", "web", "--image", "tiny", "--vcpus", "2", "--memory", "256Mi", "--host", "host-a",
            "--label", "app=web", "--label", "tier=front", "--placement", "spread", "--anti-affinity", "web",
            "--affinity", "db", "--host-selector", "zone=a", "--count", "3", "--start", "-o", "json"));
    }

    [Fact]
    public void Create_TakesASpecFromAFile()
    {
        Assert.Empty(Errors("vm", "create", "-f", "spec.yaml"));
        Assert.Empty(Errors("vm", "create", "-f", "spec.yaml", "--start"));
    }

    [Theory]
    [InlineData(new[] { "vm", "create", "web" }, "image: ")]
    [InlineData(new[] { "vm", "create", "--image", "tiny" }, "name: ")]
    [InlineData(new[] { "vm", "create", "-f", "spec.yaml", "web" }, "file: ")]
    [InlineData(new[] { "vm", "create", "-f", "spec.yaml", "--image", "tiny" }, "file: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--memory", "12x" }, "memory: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--vcpus", "two" }, "vcpus: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--count", "0" }, "count: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--label", "app" }, "labels: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--placement", "random" }, "placement: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "Tiny" }, "image: ")]
    [InlineData(new[] { "vm", "list", "-o", "yaml" }, "output: ")]
    [InlineData(new[] { "vm", "console", "web", "--send", "ls", "--follow" }, "send: ")]
    [InlineData(new[] { "host", "get", "Host_A" }, "host: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--count", "100001" }, "count: ")]
    [InlineData(new[] { "vm", "create", "web", "--image", "tiny", "--project", "Shop" }, "project: ")]
    public void BadValues_AreParseErrorsNamingTheField(string[] args, string field)
    {
        Assert.Contains(Errors(args), e => e.StartsWith(field, StringComparison.Ordinal));
    }

    [Fact]
    public void GlobalOptions_ApplyToEveryCommand()
    {
        Assert.Empty(Errors("host", "list", "-o", "json"));
        Assert.Empty(Errors("vm", "watch", "--count", "3", "-o", "json"));
        Assert.Empty(Errors("-o", "json", "vm", "get", "web-1"));
    }

    [Fact]
    public async Task RunAsync_ReportsAParseErrorAsOneLineAndExitCode2()
    {
        var (code, stdout, stderr) = await Run("vm", "start");

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal("error: invalid-spec: name: give a VM NAME, or --selector k=v for many VMs" + Environment.NewLine, stderr);
    }

    [Fact]
    public async Task RunAsync_ReportsAFabricExceptionAsOneLineAndExitCode1()
    {
        // The spec file is read before the CLI connects, so this fails without a fabric.
        var (code, stdout, stderr) = await Run("vm", "create", "-f", "/nonexistent/spec.yaml");

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.StartsWith("error: invalid-spec: file: cannot read '/nonexistent/spec.yaml'", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task RunAsync_ValidatesAYamlSpecBeforeConnecting()
    {
        var (code, _, stderr) = await Run(new StringReader("name: web\nimage: tiny\nvcpus: 1000\n"), "vm", "create", "-f", "-");

        Assert.Equal(1, code);
        Assert.StartsWith("error: invalid-spec: vcpus: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_PrintsHelpWithoutError()
    {
        var (code, stdout, stderr) = await Run("vm", "create", "--help");

        Assert.Equal(0, code);
        Assert.Contains("--anti-affinity", stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
    }

    private static Task<(int Code, string Stdout, string Stderr)> Run(params string[] args) => Run(TextReader.Null, args);

    private static async Task<(int Code, string Stdout, string Stderr)> Run(TextReader input, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await Program.RunAsync(args, CliIo.Capture(stdout, stderr, input));
        return (code, stdout.ToString(), stderr.ToString());
    }
}
