using System.Net;
using System.Text.Json;
using Fabric.Contracts;
using Fabric.UnitTests.Api;

namespace Fabric.UnitTests.Cli;

/// <summary>fabricctl commands run against a fake of the HTTP API: what they send, what they print, how they fail.</summary>
public sealed class ApiCommandTests
{
    private static readonly HostInfo HostA = new() { Name = "host-a", State = HostState.Ready, Capacity = new Resources(8, 4096), Allocated = new Resources(1, 256), VmCount = 1 };

    private static readonly VmInfo Web1 = new() { Name = "web-1", State = VmState.Running, Host = "host-a", VCpus = 1, MemoryMiB = 128, Image = "tiny", Project = "shop" };

    [Fact]
    public async Task HostList_PrintsTheApisHosts()
    {
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/hosts", new[] { HostA });

        var result = await new CliRun(api).RunAsync("host", "list");

        Assert.Equal(0, result.Code);
        Assert.StartsWith("NAME", result.Lines[0], StringComparison.Ordinal);
        Assert.StartsWith("host-a", result.Lines[1], StringComparison.Ordinal);
        Assert.Empty(result.Stderr);
    }

    [Fact]
    public async Task VmGet_Json_HasTheProject()
    {
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/vms/web-1", Web1);

        var result = await new CliRun(api).RunAsync("vm", "get", "web-1", "-o", "json");

        Assert.Equal("shop", JsonDocument.Parse(result.Stdout).RootElement.GetProperty("project").GetString());
    }

    [Fact]
    public async Task AProblem_IsOneErrorLineAndExitCode1()
    {
        var api = new FakeApi().On(HttpMethod.Post, "/v1/vms/web-1/start", _ => FakeApi.Problem(HttpStatusCode.Forbidden, "forbidden", "token 'ab12' (viewer) may not start vm 'web-1'"));

        var result = await new CliRun(api).RunAsync("vm", "start", "web-1");

        Assert.Equal(1, result.Code);
        Assert.Empty(result.Stdout);
        Assert.Equal("error: forbidden: token 'ab12' (viewer) may not start vm 'web-1'" + Environment.NewLine, result.Stderr);
    }

    [Fact]
    public async Task NoApiConfigured_IsUnavailableSayingWhatToDo()
    {
        var run = new CliRun(new FakeApi());
        run.Variables.Clear();

        var result = await run.RunAsync("host", "list");

        Assert.Equal(1, result.Code);
        Assert.Equal("error: unavailable: no API configured: set FABRIC_API and FABRIC_TOKEN, or run fabricctl login" + Environment.NewLine, result.Stderr);
    }

    [Fact]
    public async Task ABadApiUrl_IsInvalidSpecNamingFabricApi()
    {
        var run = new CliRun(new FakeApi());
        run.Variables["FABRIC_API"] = "ftp://fabric";

        var result = await run.RunAsync("host", "list");

        Assert.StartsWith("error: invalid-spec: FABRIC_API: 'ftp://fabric' is not an http:// or https:// base URL", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VmCreate_SendsTheProject_FromTheOptionOrTheSpecFile()
    {
        var bodies = new List<VmSpec>();
        var api = new FakeApi().On(HttpMethod.Post, "/v1/vms", request =>
        {
            var spec = JsonSerializer.Deserialize<VmSpec>(request.Body!, ApiJson.Compact)!;
            bodies.Add(spec);
            return FakeApi.Json(Web1 with { Name = spec.Name, Project = spec.Project }, HttpStatusCode.Created);
        });
        var run = new CliRun(api);

        Assert.Equal(0, (await run.RunAsync("vm", "create", "web-1", "--image", "tiny", "--project", "shop")).Code);
        Assert.Equal(0, (await run.RunAsync(new StringReader("name: web-2\nimage: tiny\nproject: lab\n"), "vm", "create", "-f", "-")).Code);
        Assert.Equal(0, (await run.RunAsync("vm", "create", "web-3", "--image", "tiny")).Code);

        Assert.Equal(["shop", "lab", ProjectInfo.Default], bodies.Select(b => b.Project));
    }

    [Fact]
    public async Task VmList_ShowsTheProjectColumn_AndSendsTheSelector()
    {
        var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/vms?selector=app%3Dweb", new[] { Web1 });

        var result = await new CliRun(api).RunAsync("vm", "list", "--selector", "app=web");

        Assert.Equal(["NAME", "STATE", "HOST", "PROJECT", "VCPU", "MEMORY", "IMAGE", "LABELS"], result.Lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("shop", result.Lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task VmConsole_PrintsTheLines_WithoutTerminalControls()
    {
        var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=0&wait=0", new ConsoleChunk("hello \u001b[31mred\u001b[0m\n"u8.ToArray(), 0, 20, null))
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=20&wait=0", new ConsoleChunk([], 20, 20, null));

        var result = await new CliRun(api).RunAsync("vm", "console", "web-1");

        Assert.Equal(0, result.Code);
        Assert.Equal("hello red" + Environment.NewLine, result.Stdout);
    }

    [Fact]
    public async Task VmWatch_PrintsEventsFromTheStream()
    {
        var data = JsonSerializer.Serialize(new FleetEvent { Kind = FleetEventKind.VmPlaced, At = DateTimeOffset.UnixEpoch, Vm = "web-1", Host = "host-a", Project = "shop" }, ApiJson.Compact);
        var api = new FakeApi().On(HttpMethod.Get, "/v1/events", _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent($": hi\n\ndata: {data}\n\n", System.Text.Encoding.UTF8, "text/event-stream") });

        var result = await new CliRun(api).RunAsync("vm", "watch", "--count", "1", "-o", "json");

        Assert.Equal(0, result.Code);
        Assert.Equal("web-1", JsonDocument.Parse(result.Stdout).RootElement.GetProperty("vm").GetString());
    }
}
