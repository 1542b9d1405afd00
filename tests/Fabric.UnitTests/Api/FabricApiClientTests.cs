using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.UnitTests.Api;

/// <summary>FabricApiClient against a fake of the HTTP API: routes, credentials, errors and long polls.</summary>
public sealed class FabricApiClientTests
{
    private static readonly HostInfo HostA = new() { Name = "host-a", State = HostState.Ready, Capacity = new Resources(8, 4096), Allocated = new Resources(1, 256), Vms = ["web-1"], VmCount = 1 };

    private static VmInfo Vm(string name, VmState state, string host = "host-a") =>
        new() { Name = name, State = state, Host = host, VCpus = 1, MemoryMiB = 128, Image = "tiny", Project = "shop" };

    [Fact]
    public async Task EveryRequest_CarriesTheBearerToken_UnderTheBaseUrl()
    {
        using var api = new FakeApi().OnJson(HttpMethod.Get, "/v1/hosts", new[] { HostA });
        using var client = api.Client();

        var hosts = await client.ListHostsAsync();

        Assert.Equal("host-a", Assert.Single(hosts).Name);
        var seen = Assert.Single(api.Seen);
        Assert.Equal($"Bearer {FakeApi.Token}", seen.Authorization);
        Assert.Equal(new Uri(FakeApi.Url), client.BaseUrl);
    }

    [Fact]
    public async Task ABaseUrlWithAPath_KeepsIt()
    {
        using var api = new FakeApi().OnJson(HttpMethod.Get, "/fabric/v1/hosts", new[] { HostA });
        using var client = new FabricApiClient(FabricApiConnection.Create("http://proxy.test/fabric", FakeApi.Token), api);

        Assert.Single(await client.ListHostsAsync());
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound, "not-found", "vm 'web-9' does not exist")]
    [InlineData(HttpStatusCode.Conflict, "conflict", "vm 'web-1' is Running")]
    [InlineData(HttpStatusCode.Forbidden, "insufficient-quota", "project 'shop': quota.vms 10 would be exceeded")]
    [InlineData(HttpStatusCode.BadRequest, "invalid-spec", "vcpus: 1000 is out of range 1–256")]
    [InlineData(HttpStatusCode.BadGateway, "hypervisor-error", "QEMU could not start")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "unavailable", "host 'host-b' is Down")]
    public async Task AProblem_IsAFabricExceptionWithItsCodeAndDetail(HttpStatusCode status, string code, string detail)
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/vms/web-9", _ => FakeApi.Problem(status, code, detail));
        using var client = api.Client();

        var error = await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync("web-9"));

        Assert.Equal(code, error.Code);
        Assert.Equal(detail, error.Message);
    }

    [Fact]
    public async Task A401WithoutAProblem_IsUnauthenticated()
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/hosts", _ => FakeApi.Status(HttpStatusCode.Unauthorized));
        using var client = api.Client();

        var error = await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync());

        Assert.Equal(ErrorCodes.Unauthenticated, error.Code);
        Assert.Contains(FakeApi.Url, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    public async Task A5xxWithoutAProblem_IsUnavailableNamingTheUrl(HttpStatusCode status)
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/hosts", _ => FakeApi.Status(status, "<html>proxy error</html>"));
        using var client = api.Client();

        var error = await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync());

        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.Contains(FakeApi.Url, error.Message, StringComparison.Ordinal);
        Assert.Contains(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProblemsDetail_IsMadePrintable()
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/hosts", _ => FakeApi.Problem(HttpStatusCode.Conflict, "conflict", "bad\u001b[31mred\nline"));
        using var client = api.Client();

        var error = await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync());

        Assert.DoesNotContain(error.Message, char.IsControl);
    }

    [Fact]
    public async Task AnUnreachableApi_IsUnavailableNamingTheUrl()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var url = $"http://127.0.0.1:{port}/";
        using var client = new FabricApiClient(FabricApiConnection.Create(url, FakeApi.Token));

        var error = await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync());

        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.Contains(url, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnApiThatDoesNotAnswerInTime_IsUnavailable()
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/hosts", _ =>
        {
            Thread.Sleep(TimeSpan.FromSeconds(5));
            return FakeApi.Json(Array.Empty<HostInfo>());
        });
        using var client = new FabricApiClient(FakeApi.Connection with { RequestTimeout = TimeSpan.FromMilliseconds(200) }, new DelayingHandler(api));

        var error = await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync());

        Assert.Equal(ErrorCodes.Unavailable, error.Code);
        Assert.Contains("did not answer GET /v1/hosts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonThatIsNotTheAnswer_IsUnavailable()
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/hosts", _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"not\":\"a list\"}", Encoding.UTF8, "application/json") });
        using var client = api.Client();

        Assert.Equal(ErrorCodes.Unavailable, (await Assert.ThrowsAsync<FabricException>(() => client.ListHostsAsync())).Code);
    }

    [Fact]
    public async Task Names_AreEscapedWhole_InPathsAndQueries()
    {
        using var api = new FakeApi();
        using var client = api.Client();

        await Assert.ThrowsAsync<FabricException>(() => client.GetVmAsync("web 1/../../v1/tokens"));
        await Assert.ThrowsAsync<FabricException>(() => client.GetVolumeAsync("data?x=1", "db#2"));
        await Assert.ThrowsAsync<FabricException>(() => client.ListVmsAsync(LabelSelector.Parse("selector", "app=web,tier=front")));
        await Assert.ThrowsAsync<FabricException>(() => client.ListAuditAsync(new AuditQuery { User = "a&b=c", Project = "shop", Limit = 5 }));

        Assert.Equal(
            [
                "/v1/vms/web%201%2F..%2F..%2Fv1%2Ftokens",
                "/v1/volumes/data%3Fx%3D1/db%232",
                "/v1/vms?selector=app%3Dweb%2Ctier%3Dfront",
                "/v1/audit?project=shop&user=a%26b%3Dc&limit=5",
            ],
            api.Seen.Select(r => r.PathAndQuery));
    }

    [Fact]
    public async Task Lifecycle_PostsToTheVmsActionRoutes()
    {
        using var api = new FakeApi()
            .OnJson(HttpMethod.Post, "/v1/vms/web-1/start", Vm("web-1", VmState.Running))
            .OnJson(HttpMethod.Post, "/v1/vms/web-1/pause", Vm("web-1", VmState.Paused))
            .OnJson(HttpMethod.Post, "/v1/vms/web-1/stop?force=true&wait=true&grace=2.5", Vm("web-1", VmState.Stopped))
            .On(HttpMethod.Delete, "/v1/vms/web-1?force=true", _ => FakeApi.Status(HttpStatusCode.NoContent));
        using var client = api.Client();

        Assert.Equal(VmState.Running, (await client.ActAsync("web-1", VmAction.Start))!.State);
        Assert.Equal(VmState.Paused, (await client.PauseVmAsync("web-1")).State);
        Assert.Equal(VmState.Stopped, (await client.StopVmAsync("web-1", new StopOptions { Force = true, GracePeriod = TimeSpan.FromSeconds(2.5) })).State);
        await client.DeleteVmAsync("web-1", new DeleteOptions { Force = true });
        Assert.Equal("shop", (await client.ActAsync("web-1", VmAction.Start))!.Project);
    }

    [Fact]
    public async Task CreateVms_PostsOneSpecPerName_AndReportsEachOutcome()
    {
        using var api = new FakeApi().On(HttpMethod.Post, "/v1/vms", request =>
        {
            var spec = JsonSerializer.Deserialize<VmSpec>(request.Body!, ApiJson.Compact)!;
            return spec.Name == "web-2"
                ? FakeApi.Problem(HttpStatusCode.Conflict, "insufficient-capacity", "no host has room")
                : FakeApi.Json(Vm(spec.Name, VmState.Defined) with { Project = spec.Project }, HttpStatusCode.Created);
        });
        using var client = api.Client();

        var results = await client.CreateVmsAsync(new VmSpec { Name = "web", Image = "tiny", Project = "shop" }, 3);

        Assert.Equal(["web-1", "web-2", "web-3"], results.Select(r => r.Vm));
        Assert.Equal([true, false, true], results.Select(r => r.Succeeded));
        Assert.Equal("insufficient-capacity", results[1].ErrorCode);
        Assert.All(results.Where(r => r.Succeeded), r => Assert.Equal("shop", r.Info!.Project));
        Assert.Equal(3, api.Seen.Count);
    }

    [Fact]
    public async Task WaitForVm_LongPollsUntilTheVmIsInAWantedState()
    {
        var answers = new Queue<VmState>([VmState.Starting, VmState.Running]);
        using var api = new FakeApi().OnPrefix(HttpMethod.Get, "/v1/vms/web-1?state=Running%2CFailed&wait=", _ => FakeApi.Json(Vm("web-1", answers.Dequeue())));
        using var client = api.Client();

        var vm = await client.WaitForVmAsync("web-1", [VmState.Running, VmState.Failed], TimeSpan.FromSeconds(30));

        Assert.Equal(VmState.Running, vm.State);
        Assert.Equal(2, api.Seen.Count);
        Assert.All(api.Seen, r => Assert.InRange(int.Parse(r.PathAndQuery.Split("wait=")[1], System.Globalization.CultureInfo.InvariantCulture), 1, 30));
    }

    [Fact]
    public async Task Console_ReadsFromEachNextOffset_AndJoinsLinesAcrossChunks()
    {
        using var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=0&wait=0", new ConsoleChunk(Encoding.UTF8.GetBytes("fabric-guest ready boot=1\ntick 1 bo"), 0, 34, null))
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=34&wait=0", new ConsoleChunk(Encoding.UTF8.GetBytes("ot=1\r\ntick 2"), 34, 46, null))
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=46&wait=0", new ConsoleChunk([], 46, 46, null));
        using var client = api.Client();

        var lines = new List<string>();
        await foreach (var line in client.ConsoleAsync("web-1", follow: false))
        {
            lines.Add(line);
        }

        Assert.Equal(["fabric-guest ready boot=1", "tick 1 boot=1", "tick 2"], lines);
        Assert.Equal(3, api.Seen.Count);
    }

    [Fact]
    public async Task ConsoleFollow_WaitsOnTheServer_AndEndsQuietlyWhenCancelled()
    {
        using var cancel = new CancellationTokenSource();
        using var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/console?offset=0&wait=5000", new ConsoleChunk(Encoding.UTF8.GetBytes("one\ntwo\n"), 0, 8, null))
            .On(HttpMethod.Get, "/v1/vms/web-1/console?offset=8&wait=5000", _ =>
            {
                cancel.Cancel();
                return FakeApi.Json(new ConsoleChunk([], 8, 8, null));
            });
        using var client = api.Client();

        var lines = new List<string>();
        await foreach (var line in client.ConsoleAsync("web-1", follow: true, cancel.Token))
        {
            lines.Add(line);
        }

        Assert.Equal(["one", "two"], lines);
    }

    [Fact]
    public async Task SendConsole_PostsTheLine_AndRefusesOneOverTheLimit()
    {
        using var api = new FakeApi().On(HttpMethod.Post, "/v1/vms/web-1/console", _ => FakeApi.Status(HttpStatusCode.NoContent));
        using var client = api.Client();

        await client.SendConsoleAsync("web-1", "uname -a");

        Assert.Equal("{\"line\":\"uname -a\"}", Assert.Single(api.Seen).Body);
        Assert.Equal(ErrorCodes.InvalidSpec, (await Assert.ThrowsAsync<FabricException>(() => client.SendConsoleAsync("web-1", new string('x', FabricApiClient.MaxConsoleLine)))).Code);
    }

    [Fact]
    public async Task Watch_ReadsOneEventPerDataLine_IgnoringHeartbeatsAndOtherFields()
    {
        var stream = string.Join('\n',
            ": connected",
            "",
            "event: fleet",
            "data: " + JsonSerializer.Serialize(new FleetEvent { Kind = FleetEventKind.VmPlaced, At = DateTimeOffset.UnixEpoch, Vm = "web-1", Host = "host-a" }, ApiJson.Compact),
            "",
            ":heartbeat",
            "id: 7",
            "data: " + JsonSerializer.Serialize(new FleetEvent { Kind = FleetEventKind.VmStateChanged, At = DateTimeOffset.UnixEpoch, Vm = "web-1", From = "Starting", To = "Running" }, ApiJson.Compact),
            "",
            "");
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/events", _ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(stream, Encoding.UTF8, "text/event-stream") });
        using var client = api.Client();

        var events = new List<FleetEvent>();
        await foreach (var fleetEvent in client.WatchAsync())
        {
            events.Add(fleetEvent);
            if (events.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([FleetEventKind.VmPlaced, FleetEventKind.VmStateChanged], events.Select(e => e.Kind));
        Assert.Equal("Running", events[1].To);
        Assert.Equal("text/event-stream", Assert.Single(api.Seen).Accept);
    }

    [Fact]
    public async Task Watch_FailsAtOnce_WhenTheStreamCannotBeOpened()
    {
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/events", _ => FakeApi.Status(HttpStatusCode.Unauthorized));
        using var client = api.Client();

        var error = await Assert.ThrowsAsync<FabricException>(async () =>
        {
            await foreach (var _ in client.WatchAsync())
            {
            }
        });
        Assert.Equal(ErrorCodes.Unauthenticated, error.Code);
    }

    [Fact]
    public async Task Watch_OpensABrokenStreamAgain()
    {
        var opened = 0;
        using var api = new FakeApi().On(HttpMethod.Get, "/v1/events", _ =>
        {
            var n = Interlocked.Increment(ref opened);
            var data = JsonSerializer.Serialize(new FleetEvent { Kind = FleetEventKind.VmDeleted, At = DateTimeOffset.UnixEpoch, Vm = $"web-{n}" }, ApiJson.Compact);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent($"data: {data}\n\n", Encoding.UTF8, "text/event-stream") };
        });
        using var client = api.Client();

        var vms = new List<string?>();
        await foreach (var fleetEvent in client.WatchAsync())
        {
            vms.Add(fleetEvent.Vm);
            if (vms.Count == 2)
            {
                break;
            }
        }

        Assert.Equal(["web-1", "web-2"], vms);
    }

    [Fact]
    public async Task WaitForMigration_LongPollsAfterEachVersion_UntilItEnds()
    {
        static MigrationInfo Phase(MigrationPhase phase, long version) => new() { Id = "m1", Vm = "web-1", Phase = phase, From = "host-a", To = "host-b", Version = version };
        using var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/migration", Phase(MigrationPhase.Transferring, 3))
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/migration?after=3&wait=30", Phase(MigrationPhase.SwitchingOver, 4))
            .OnJson(HttpMethod.Get, "/v1/vms/web-1/migration?after=4&wait=30", Phase(MigrationPhase.Succeeded, 5));
        using var client = api.Client();
        var seen = new List<MigrationPhase>();

        var end = await client.WaitForMigrationAsync("web-1", new SyncProgress<MigrationInfo>(m => seen.Add(m.Phase)));

        Assert.Equal(MigrationPhase.Succeeded, end.Phase);
        Assert.Equal([MigrationPhase.Transferring, MigrationPhase.SwitchingOver, MigrationPhase.Succeeded], seen);
    }

    [Fact]
    public async Task Drain_FollowsEachVm_ReportingWhatItsMigrationDid()
    {
        var drained = false;
        var before = HostA with { Vms = ["web-1", "web-2", "web-3"], VmCount = 3 };
        var moved = new MigrationInfo { Id = "m-new", Vm = "web-1", Phase = MigrationPhase.Succeeded, From = "host-a", To = "host-b", Version = 9 };
        var failed = new MigrationInfo { Id = "m-2", Vm = "web-2", Phase = MigrationPhase.Failed, From = "host-a", Reason = "no host has room", Version = 4 };
        using var api = new FakeApi()
            .OnJson(HttpMethod.Get, "/v1/hosts/host-a", before with { State = HostState.Draining })
            .On(HttpMethod.Get, "/v1/vms/web-1/migration", _ => drained ? FakeApi.Json(moved) : FakeApi.Json(moved with { Id = "m-old" }))
            .On(HttpMethod.Get, "/v1/vms/web-2/migration", _ => drained ? FakeApi.Json(failed) : FakeApi.Problem(HttpStatusCode.NotFound, "not-found", "no migration"))
            .On(HttpMethod.Get, "/v1/vms/web-3/migration", _ => FakeApi.Problem(HttpStatusCode.NotFound, "not-found", "no migration"))
            .OnJson(HttpMethod.Get, "/v1/vms/web-3", Vm("web-3", VmState.Stopped))
            .On(HttpMethod.Post, "/v1/hosts/host-a/drain", _ =>
            {
                drained = true;
                return FakeApi.Json(before with { State = HostState.Draining }, HttpStatusCode.Accepted);
            });
        using var client = api.Client();
        var progress = new List<DrainProgress>();

        var results = await client.DrainHostAsync("host-a", new SyncProgress<DrainProgress>(progress.Add));

        Assert.Equal(["web-1", "web-2", "web-3"], results.Select(r => r.Vm));
        Assert.True(results[0].Moved);
        Assert.Equal("m-new", results[0].Migration!.Id);
        Assert.False(results[1].Moved);
        Assert.Equal("no host has room", results[1].Reason);
        Assert.False(results[2].Moved);
        Assert.Contains("Stopped", results[2].Reason, StringComparison.Ordinal);
        Assert.Equal(3, progress.Count);
        Assert.All(progress, p => Assert.Equal(3, p.Total));
    }

    [Fact]
    public async Task Access_ProjectsTokensAndAudit_UseTheirRoutes()
    {
        var token = new TokenInfo { Id = "ab12", User = "alice", Project = "shop", Role = Role.Operator };
        var project = new ProjectInfo { Name = "shop", Quota = new ProjectQuota { Vms = 10 } };
        using var api = new FakeApi()
            .OnJson(HttpMethod.Post, "/v1/projects", project, HttpStatusCode.Created)
            .OnJson(HttpMethod.Put, "/v1/projects/shop/quota", project with { Quota = new ProjectQuota { Vms = 20 } })
            .OnJson(HttpMethod.Post, "/v1/tokens", new IssuedToken { Info = token, Token = "fabric_ab12_secret" }, HttpStatusCode.Created)
            .OnJson(HttpMethod.Delete, "/v1/tokens/ab12", token with { RevokedAt = DateTimeOffset.UnixEpoch })
            .OnJson(HttpMethod.Get, "/v1/whoami", token)
            .OnJson(HttpMethod.Get, "/v1/audit?since=2026-11-30T12%3A00%3A00.0000000%2B00%3A00&limit=1000", new[] { new AuditEntry { At = DateTimeOffset.UnixEpoch, User = "alice", Action = "vm.create", Target = "vm/web-1", Result = "ok" } });
        using var client = api.Client();

        Assert.Equal(10, (await client.CreateProjectAsync("shop", new ProjectQuota { Vms = 10 })).Quota.Vms);
        Assert.Equal(20, (await client.SetQuotaAsync("shop", new ProjectQuota { Vms = 20 })).Quota.Vms);
        Assert.Equal("fabric_ab12_secret", (await client.CreateTokenAsync(new TokenRequest { User = "alice", Project = "shop", Role = Role.Operator })).Token);
        Assert.NotNull((await client.RevokeTokenAsync("ab12")).RevokedAt);
        Assert.Equal("alice", (await client.WhoAmIAsync()).User);
        Assert.Equal("vm.create", Assert.Single(await client.ListAuditAsync(new AuditQuery { Since = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero) })).Action);

        Assert.Equal("{\"name\":\"shop\",\"quota\":{\"vms\":10,\"vcpus\":null,\"memoryMiB\":null}}", api.Seen[0].Body);
        Assert.Equal("{\"user\":\"alice\",\"project\":\"shop\",\"role\":\"Operator\",\"expiresAt\":null}", api.Seen[2].Body);
    }

    /// <summary>Reports synchronously, in order (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        private readonly Lock _gate = new();

        public void Report(T value)
        {
            lock (_gate)
            {
                report(value);
            }
        }
    }

    /// <summary>Runs the fake's answer off the caller's thread, so that a slow answer can be timed out.</summary>
    private sealed class DelayingHandler(FakeApi inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.Run(() => base.SendAsync(request, cancellationToken), cancellationToken).WaitAsync(cancellationToken);
    }
}
