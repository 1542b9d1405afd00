using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security;
using System.Text.Json;
using Fabric.Client;
using Fabric.Contracts;
using Fabric.Hypervisor.Linux;
using Fabric.TestSupport;

namespace Fabric.Bench;

/// <summary>One command measured as a fresh process each run (or, for <c>in-process</c> rows, one call of a warm client).</summary>
internal sealed record CliCall(
    string Command,
    string Kind,
    int Runs,
    int Failed,
    double MedianMs,
    double P90Ms,
    double MinMs,
    double? VsCurl,
    double? VsVirsh,
    string? Error);

/// <summary>A tiny guest from nothing to its ready line: through fabricctl (create, then start) or <c>virsh create</c>.</summary>
internal sealed record CliBoot(
    string Path,
    int Runs,
    int Failed,
    double MedianMs,
    double P90Ms,
    double MinMs,
    double? FirstCommandMedianMs,
    double? SecondCommandMedianMs,
    double? QemuForkedMedianMs,
    string? Error);

internal sealed record CliTarget(string Target, string Measured, bool? Met);

/// <summary>All of <c>./fabric bench cli</c>.</summary>
internal sealed record CliReport(
    int Runs,
    string Ctl,
    string Accelerator,
    string AcceleratorReason,
    string Baseline,
    string? Libvirt,
    string? LibvirtDomainType,
    string VmName,
    int GuestMemoryMiB,
    IReadOnlyList<CliCall> Calls,
    IReadOnlyList<CliBoot> Boot,
    double? BootRatio,
    IReadOnlyList<CliTarget> Targets,
    IReadOnlyList<string> WhereTheTimeGoes,
    IReadOnlyList<string> Notes,
    double LoadAverageAtStart,
    double LoadAverageAtEnd);

/// <summary>
/// What a person at a shell waits for: <c>fabricctl</c> commands run as fresh processes (as <c>./fabric ctl</c> runs
/// them) against the silos' REST API, beside <c>curl</c> of the same endpoints, the CLI's own start without a request,
/// and libvirt's <c>virsh</c> where libvirt runs here; and a tiny guest created and started by fabricctl against the
/// same guest by <c>virsh create</c>, each to its ready line.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class CliBenchmark
{
    public const int DefaultRuns = 20;
    private const string VmName = "bench-cli";
    private const int GuestMemoryMiB = 32;
    private const string LibvirtUri = "qemu:///system";
    private const string ReadyLine = "fabric-guest ready boot=";
    private const double CallTargetMs = 100;

    /// <summary>A command line: a program and its arguments.</summary>
    private sealed record Launcher(string File, IReadOnlyList<string> Arguments, string Description)
    {
        public Launcher With(params string[] more) => this with { Arguments = [.. Arguments, .. more] };
    }

    /// <summary>One row being measured: what it runs, and the row it is compared with.</summary>
    private sealed class Probe(string command, string kind, Func<Task<double>> run)
    {
        public string Command { get; } = command;

        public string Kind { get; } = kind;

        public Func<Task<double>> Run { get; } = run;

        public List<double> Samples { get; } = [];

        public int Failed { get; set; }

        public string? Error { get; set; }

        public string? CurlPeer { get; init; }
    }

    public static async Task<CliReport> RunAsync(int runs, TextWriter progress)
    {
        var loadAtStart = LoadAverage();
        var notes = new List<string>();
        var ctl = CtlLauncher(Environment.GetEnvironmentVariable("FABRIC_BENCH_CTL"));
        var jit = Environment.GetEnvironmentVariable("FABRIC_BENCH_CTL_DLL") is { Length: > 0 } dll && ctl.File != "dotnet"
            ? CtlLauncher(dll)
            : null;
        progress.WriteLine($"  fabricctl: {ctl.Description}{(jit is null ? "" : $" (and the JIT build, {jit.Description}, for comparison)")}");

        await using var environment = await FabricEnvironment.StartAsync(NetworkTopology.Loopback, FabricEnvironment.ProductionDefaults, "host-a");
        var client = await environment.ConnectAsync();
        var host = await client.GetHostAsync("host-a");
        await client.CreateVmAsync(new VmSpec { Name = VmName, Image = "tiny", MemoryMiB = GuestMemoryMiB });

        // The token travels in files only: fabricctl reads FABRIC_TOKEN_FILE, curl a header file (-H @FILE).
        var headerFile = Path.Combine(environment.Directory, "curl-headers");
        File.WriteAllText(headerFile, $"Authorization: Bearer {environment.AdminToken}\n");
        File.SetUnixFileMode(headerFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var api = environment.ApiUrl.ToString().TrimEnd('/');
        var ctlEnvironment = new Dictionary<string, string?>
        {
            ["FABRIC_API"] = api,
            ["FABRIC_TOKEN_FILE"] = environment.AdminTokenFile,
            ["FABRIC_TOKEN"] = null,
            ["FABRIC_CA_FILE"] = environment.Pki.CaFile,
        };

        var libvirtState = Path.Combine(environment.Directory, "libvirt");
        string? libvirt = null;
        try
        {
            libvirt = await StartLibvirtAsync(libvirtState, progress, notes);
            var domainType = host.Accelerator == "kvm" ? "kvm" : "qemu";
            var baseline = libvirt is null ? "curl" : "virsh";

            // ---- single calls
            var probes = new List<Probe>();
            void AddCtl(Launcher launcher, string label)
            {
                probes.Add(new Probe($"{label} host list", "fabricctl", () => TimeAsync(launcher.With("host", "list"), ctlEnvironment)) { CurlPeer = "/v1/hosts" });
                probes.Add(new Probe($"{label} vm get {VmName}", "fabricctl", () => TimeAsync(launcher.With("vm", "get", VmName), ctlEnvironment)) { CurlPeer = $"/v1/vms/{VmName}" });
                probes.Add(new Probe($"{label} --version", "process start (no request)", () => TimeAsync(launcher.With("--version"), ctlEnvironment)) { CurlPeer = "--version" });
            }

            AddCtl(ctl, "fabricctl");

            // The same call printed as JSON rather than a table: what the table's rendering costs.
            probes.Add(new Probe("fabricctl -o json host list", "fabricctl", () => TimeAsync(ctl.With("-o", "json", "host", "list"), ctlEnvironment)) { CurlPeer = "/v1/hosts" });
            if (jit is not null)
            {
                AddCtl(jit, "fabricctl (JIT: dotnet fabricctl.dll)");
            }

            var curl = new Launcher("curl", ["-s", "-f", "--cacert", environment.Pki.CaFile, "-H", $"@{headerFile}"], "curl");
            probes.Add(new Probe("curl -s GET /v1/hosts", "curl", () => TimeAsync(curl.With($"{api}/v1/hosts"), null)));
            probes.Add(new Probe($"curl -s GET /v1/vms/{VmName}", "curl", () => TimeAsync(curl.With($"{api}/v1/vms/{VmName}"), null)));
            probes.Add(new Probe("curl --version", "process start (no request)", () => TimeAsync(new Launcher("curl", ["--version"], "curl"), null)));
            probes.Add(new Probe("/bin/true", "any process (spawn and exit)", () => TimeAsync(new Launcher("/bin/true", [], "/bin/true"), null, requireOutput: false)));
            if (libvirt is not null)
            {
                probes.Add(new Probe("virsh list", "virsh", () => TimeAsync(new Launcher("virsh", ["-c", LibvirtUri, "list"], "virsh"), null)));
            }

            using var http = new HttpClient(environment.ApiHandler(), disposeHandler: true) { BaseAddress = new Uri(api + "/") };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", environment.AdminToken);
            probes.Add(new Probe("in-process GET /v1/hosts (warm HttpClient)", "server + loopback", () => GetAsync(http, "v1/hosts")));
            probes.Add(new Probe($"in-process GET /v1/vms/{VmName} (warm HttpClient)", "server + loopback", () => GetAsync(http, $"v1/vms/{VmName}")));

            progress.WriteLine($"  single calls: {probes.Count} commands × {runs} runs, alternating order");
            await MeasureCallsAsync(probes, runs, progress);

            // ---- create + start to the ready line
            progress.WriteLine($"  create + start of the tiny guest ({GuestMemoryMiB} MiB) to its ready line: fabricctl vs {(libvirt is null ? "nothing (libvirt cannot run here)" : $"virsh create (domain type '{domainType}')")}, {runs} runs each, alternating");
            var boot = await MeasureBootAsync(environment, client, ctl, ctlEnvironment, libvirt is not null ? domainType : null, runs, progress, notes);

            return Report(runs, ctl, jit, host, baseline, libvirt, libvirt is null ? null : domainType, probes, boot, notes, loadAtStart);
        }
        finally
        {
            if (libvirt is not null)
            {
                await StopLibvirtAsync(libvirtState, progress);
            }
        }
    }

    // ------------------------------------------------------------------ single calls

    private static async Task MeasureCallsAsync(List<Probe> probes, int runs, TextWriter progress)
    {
        // One untimed pass (page cache, the silo's JIT, the token's first check).
        foreach (var probe in probes)
        {
            await RunProbeAsync(probe, record: false);
        }

        for (var round = 0; round < runs; round++)
        {
            IEnumerable<Probe> order = round % 2 == 0 ? probes : Enumerable.Reverse(probes);
            foreach (var probe in order)
            {
                await RunProbeAsync(probe, record: true);
            }

            progress.WriteLine($"  round {round + 1}/{runs}: " + string.Join(", ", probes.Where(p => p.Kind != "server + loopback").Take(3).Select(p => $"{p.Command} {(p.Samples.Count > 0 ? p.Samples[^1] : double.NaN):0} ms")));
        }
    }

    private static async Task RunProbeAsync(Probe probe, bool record)
    {
        try
        {
            var ms = await probe.Run();
            if (record)
            {
                probe.Samples.Add(ms);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or IOException or TaskCanceledException)
        {
            if (record)
            {
                probe.Failed++;
            }

            probe.Error ??= ex.Message;
        }
    }

    /// <summary>Runs a process to its end; the milliseconds from its start. A non-zero exit or no output is a failure.</summary>
    private static async Task<double> TimeAsync(Launcher launcher, IReadOnlyDictionary<string, string?>? environment, bool requireOutput = true)
    {
        var (ms, exit, output, error) = await RunProcessAsync(launcher, environment);
        if (exit != 0 || (requireOutput && output.Length == 0))
        {
            throw new InvalidOperationException($"{launcher.Description} {string.Join(' ', launcher.Arguments.Where(a => !a.StartsWith('@')))}: exit {exit}: {FirstLine(error.Length > 0 ? error : output)}");
        }

        return ms;
    }

    private static async Task<(double Ms, int Exit, string Output, string Error)> RunProcessAsync(Launcher launcher, IReadOnlyDictionary<string, string?>? environment)
    {
        var start = new ProcessStartInfo(launcher.File)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in launcher.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{launcher.File} did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{launcher.Description} {string.Join(' ', launcher.Arguments)} did not end within 60 s");
        }

        var ms = clock.Elapsed.TotalMilliseconds;
        return (ms, process.ExitCode, await output, await error);
    }

    private static async Task<double> GetAsync(HttpClient http, string path)
    {
        var clock = Stopwatch.StartNew();
        using var answer = await http.GetAsync(path);
        var body = await answer.Content.ReadAsByteArrayAsync();
        var ms = clock.Elapsed.TotalMilliseconds;
        answer.EnsureSuccessStatusCode();
        return body.Length > 0 ? ms : throw new InvalidOperationException($"GET {path}: empty answer");
    }

    // ------------------------------------------------------------------ create + start to the ready line

    private static async Task<List<CliBoot>> MeasureBootAsync(FabricEnvironment environment, FabricClient client, Launcher ctl, IReadOnlyDictionary<string, string?> ctlEnvironment, string? domainType, int runs, TextWriter progress, List<string> notes)
    {
        var data = environment.Silos["host-a"].DataDirectory;
        var fabric = new List<double>();
        var creates = new List<double>();
        var starts = new List<double>();
        var forks = new List<double>();
        var fabricFailed = 0;
        string? fabricError = null;

        var virsh = new List<double>();
        var virshCreates = new List<double>();
        var virshForks = new List<double>();
        var virshFailed = 0;
        string? virshError = null;

        // libvirt's QEMU runs as libvirt-qemu and opens the image itself: its directory must be reachable (never listable).
        var virshDirectory = Path.Combine(environment.Directory, "virsh");
        string? emulator = null;
        string? image = null;
        if (domainType is not null)
        {
            File.SetUnixFileMode(environment.Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            Directory.CreateDirectory(virshDirectory);
            File.SetUnixFileMode(virshDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);

            // The same 512 bytes the fabric boots, copied: libvirt changes the owner of the files it gives QEMU.
            image = Path.Combine(virshDirectory, "tiny.img");
            File.Copy(TinyImage(), image, overwrite: true);
            File.SetUnixFileMode(image, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        async Task<bool> Fabric(string name, bool record)
        {
            try
            {
                var log = Path.Combine(data, "vms", name, "console.log");
                var since = Stopwatch.GetTimestamp();
                var clock = Stopwatch.StartNew();
                var create = await TimeAsync(ctl.With("vm", "create", name, "--image", "tiny", "--memory", $"{GuestMemoryMiB}Mi"), ctlEnvironment);
                var startedAt = clock.Elapsed.TotalMilliseconds;
                await TimeAsync(ctl.With("vm", "start", name), ctlEnvironment);
                var start = clock.Elapsed.TotalMilliseconds - startedAt;
                await StartBenchmark.WaitForReadyAsync(log);
                var ready = clock.Elapsed.TotalMilliseconds;
                var pid = (await client.GetVmAsync(name)).Pid;
                if (record)
                {
                    fabric.Add(ready);
                    creates.Add(create);
                    starts.Add(start);
                    if (pid is { } p && ForkedMsAfter(p, since) is { } forked)
                    {
                        forks.Add(forked);
                    }
                }

                if (emulator is null && pid is { } qemu && Processes.Arguments(qemu) is { Count: > 0 } arguments)
                {
                    emulator = arguments[0];
                }

                return true;
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FabricException or IOException)
            {
                fabricFailed += record ? 1 : 0;
                fabricError ??= ex.Message;
                return false;
            }
            finally
            {
                await DeleteQuietlyAsync(client, name);
            }
        }

        async Task Virsh(string name, bool record)
        {
            var directory = Path.Combine(virshDirectory, name);
            try
            {
                Directory.CreateDirectory(directory);
                var log = Path.Combine(directory, "console.log");
                var xml = Path.Combine(directory, "domain.xml");
                await File.WriteAllTextAsync(xml, DomainXml(name, domainType!, Absolute(emulator ?? "qemu-system-x86_64"), image!, log));
                var since = Stopwatch.GetTimestamp();
                var clock = Stopwatch.StartNew();
                var create = await TimeAsync(new Launcher("virsh", ["-c", LibvirtUri, "create", xml], "virsh"), null);
                await StartBenchmark.WaitForReadyAsync(log);
                var ready = clock.Elapsed.TotalMilliseconds;
                if (record)
                {
                    virsh.Add(ready);
                    virshCreates.Add(create);
                    if (ReadPid($"/run/libvirt/qemu/{name}.pid") is { } pid && ForkedMsAfter(pid, since) is { } forked)
                    {
                        virshForks.Add(forked);
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
            {
                virshFailed += record ? 1 : 0;
                virshError ??= ex.Message;
            }
            finally
            {
                await RunProcessAsync(new Launcher("virsh", ["-c", LibvirtUri, "destroy", name], "virsh"), null);
            }
        }

        // One untimed warm-up of each (it also reads the fabric's QEMU binary, which libvirt is then given).
        await Fabric("bench-boot-warm", record: false);
        if (domainType is not null)
        {
            await Virsh("bench-virsh-warm", record: false);
        }

        for (var run = 0; run < runs; run++)
        {
            if (run % 2 == 0 || domainType is null)
            {
                await Fabric($"bench-boot-{run}", record: true);
                if (domainType is not null)
                {
                    await Virsh($"bench-virsh-{run}", record: true);
                }
            }
            else
            {
                await Virsh($"bench-virsh-{run}", record: true);
                await Fabric($"bench-boot-{run}", record: true);
            }

            progress.WriteLine($"  boot run {run + 1}/{runs}: fabricctl {(fabric.Count > 0 ? fabric[^1] : double.NaN):0} ms{(domainType is null ? "" : $", virsh {(virsh.Count > 0 ? virsh[^1] : double.NaN):0} ms")}");
        }

        var f = new Stats(fabric);
        var results = new List<CliBoot>
        {
            new($"fabricctl vm create NAME --image tiny --memory {GuestMemoryMiB}Mi; fabricctl vm start NAME", runs, fabricFailed, f.Median, f.Percentile(90), f.Min, new Stats(creates).Median, new Stats(starts).Median, forks.Count > 0 ? new Stats(forks).Median : null, fabricError),
        };
        if (domainType is not null)
        {
            var v = new Stats(virsh);
            results.Add(new($"virsh create domain.xml (domain type '{domainType}')", runs, virshFailed, v.Median, v.Percentile(90), v.Min, new Stats(virshCreates).Median, null, virshForks.Count > 0 ? new Stats(virshForks).Median : null, virshError));
        }
        else
        {
            notes.Add("create + start: no baseline in this run (libvirt could not run here); the fabric's figures alone");
        }

        return results;
    }

    /// <summary>
    /// When <paramref name="pid"/> was forked, in milliseconds after the Stopwatch timestamp <paramref name="since"/>:
    /// /proc/PID/stat's start time counts clock ticks (1/100 s) since boot, as Linux's CLOCK_MONOTONIC (Stopwatch's clock)
    /// does on a machine that never suspends; so ±10 ms. Null when the process is gone.
    /// </summary>
    private static double? ForkedMsAfter(int pid, long since)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[19], CultureInfo.InvariantCulture);
            return (ticks * 10.0) - (since * 1000.0 / Stopwatch.Frequency);
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static int? ReadPid(string file)
    {
        try
        {
            return int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task DeleteQuietlyAsync(FabricClient client, string name)
    {
        try
        {
            await client.StopVmAsync(name, new StopOptions { Force = true });
        }
        catch (FabricException)
        {
            // Never started, or already stopped.
        }

        try
        {
            await client.DeleteVmAsync(name);
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
        {
        }
    }

    /// <summary>
    /// The tiny guest for libvirt, as the fabric boots it (QemuCommandLine): machine pc, the image as a read-only raw
    /// floppy, one vCPU, no default devices, the same accelerator (domain type 'qemu' is TCG), CPU model max (host
    /// under KVM); the first serial port into a file, the ready line's source.
    /// </summary>
    private static string DomainXml(string name, string domainType, string emulator, string image, string console) => $"""
        <domain type='{domainType}'>
          <name>{SecurityElement.Escape(name)}</name>
          <memory unit='MiB'>{GuestMemoryMiB}</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
          <cpu mode='{(domainType == "kvm" ? "host-passthrough" : "maximum")}' check='none'/>
          <devices>
            <emulator>{SecurityElement.Escape(emulator)}</emulator>
            <disk type='file' device='floppy'>
              <driver name='qemu' type='raw'/>
              <source file='{SecurityElement.Escape(image)}'/>
              <target dev='fda' bus='fdc'/>
              <readonly/>
            </disk>
            <serial type='file'><source path='{SecurityElement.Escape(console)}'/><target port='0'/></serial>
            <controller type='usb' model='none'/>
            <memballoon model='none'/>
          </devices>
        </domain>
        """;

    private static string TinyImage()
    {
        var directory = Path.Combine(RepoPaths.Images, "tiny");
        using var description = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "image.json")));
        return Path.Combine(directory, description.RootElement.GetProperty("disk").GetString()!);
    }

    private static string Absolute(string program) =>
        Path.IsPathRooted(program)
            ? program
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists) ?? program;

    // ------------------------------------------------------------------ libvirt

    /// <summary>Starts libvirtd unless one runs (bench/libvirt.sh); "started", "running", or null (and a note) when it cannot run.</summary>
    private static async Task<string?> StartLibvirtAsync(string state, TextWriter progress, List<string> notes)
    {
        var script = Path.Combine(RepoPaths.Root, "bench", "libvirt.sh");
        var (_, exit, output, error) = await RunProcessAsync(new Launcher(script, ["start", state], script), null);
        if (exit == 0)
        {
            var how = output.Trim() == "running" ? "running (started by someone else; left running)" : "started by the benchmark (stopped at its end)";
            progress.WriteLine($"  libvirtd: {how}");
            return how;
        }

        var why = FirstLine(error.Length > 0 ? error : output);
        var note = $"libvirt cannot run here ({why}): the single calls are compared with curl only, create + start has no baseline";
        progress.WriteLine($"  note: {note}");
        notes.Add(note);
        return null;
    }

    private static async Task StopLibvirtAsync(string state, TextWriter progress)
    {
        var script = Path.Combine(RepoPaths.Root, "bench", "libvirt.sh");
        var (_, exit, _, error) = await RunProcessAsync(new Launcher(script, ["stop", state], script), null);
        if (exit != 0)
        {
            progress.WriteLine($"  note: stopping libvirtd: {FirstLine(error)}");
        }
    }

    // ------------------------------------------------------------------ the report

    private static CliReport Report(int runs, Launcher ctl, Launcher? jit, HostInfo host, string baseline, string? libvirt, string? domainType, List<Probe> probes, List<CliBoot> boot, List<string> notes, double loadAtStart)
    {
        double? Median(string command) => probes.FirstOrDefault(p => p.Command == command) is { Samples.Count: > 0 } p ? new Stats(p.Samples).Median : null;
        var virshList = Median("virsh list");
        var calls = probes.Select(p =>
        {
            var s = new Stats(p.Samples);
            var curlPeer = p.CurlPeer switch
            {
                null => null,
                "--version" => Median("curl --version"),
                var path => Median($"curl -s GET {path}"),
            };
            return new CliCall(p.Command, p.Kind, runs, p.Failed, s.Median, s.Percentile(90), s.Min, curlPeer is { } c && s.Count > 0 ? s.Median / c : null, virshList is { } v && s.Count > 0 && p.Kind != "server + loopback" ? s.Median / v : null, p.Error);
        }).ToList();

        var targets = new List<CliTarget>();
        foreach (var command in new[] { "fabricctl host list", $"fabricctl vm get {VmName}" })
        {
            var median = Median(command);
            targets.Add(new($"{command}: median ≤ {CallTargetMs:0} ms", median is { } m ? $"{m:0.0} ms" : "failed", median is { } ms ? ms <= CallTargetMs : false));
        }

        double? bootRatio = boot.Count == 2 && boot[1].MedianMs > 0 ? boot[0].MedianMs / boot[1].MedianMs : null;
        targets.Add(bootRatio is { } r
            ? new("fabricctl vm create + start to the ready line: median ≤ virsh create's", $"{boot[0].MedianMs:0.0} ms vs {boot[1].MedianMs:0.0} ms ({r:0.000}×)", r <= 1.0)
            : new("fabricctl vm create + start to the ready line: median ≤ virsh create's", $"{boot[0].MedianMs:0.0} ms; no virsh baseline", null));

        var where = new List<string>();
        var floor = Median("fabricctl --version");
        var curlFloor = Median("curl --version");
        foreach (var (command, path) in new[] { ("host list", "/v1/hosts"), ($"vm get {VmName}", $"/v1/vms/{VmName}") })
        {
            if (Median($"fabricctl {command}") is { } total && floor is { } f)
            {
                var line = $"fabricctl {command} {total:0.0} ms p50 = the process starting and ending with no request (--version) {f:0.0} ms + {total - f:0.0} ms for its connection, the call and its output";
                if (Median($"curl -s GET {path}") is { } c && curlFloor is { } cf)
                {
                    line += $"; curl of {path} {c:0.0} ms ({cf:0.0} ms of it curl starting)";
                }

                if (Median($"in-process GET {path} (warm HttpClient)") is { } server)
                {
                    line += $"; the same GET from a warm client in this process {server:0.00} ms (the silo's work plus loopback)";
                }

                if (jit is not null && Median($"fabricctl (JIT: dotnet fabricctl.dll) {command}") is { } j && Median("fabricctl (JIT: dotnet fabricctl.dll) --version") is { } jf)
                {
                    line += $"; the JIT build: {j:0.0} ms, {jf:0.0} ms of it starting";
                }

                if (command == "host list" && Median("fabricctl -o json host list") is { } asJson)
                {
                    line += $"; printed as JSON (-o json) instead of a table: {asJson:0.0} ms";
                }

                where.Add(line);
            }
        }

        if (boot[0].FirstCommandMedianMs is { } create && boot[0].SecondCommandMedianMs is { } start)
        {
            var line = $"fabricctl create + start to ready {boot[0].MedianMs:0.0} ms p50: the create process {create:0.0} ms, the start process {start:0.0} ms (each includes the CLI's own start, {floor ?? double.NaN:0.0} ms), then {boot[0].MedianMs - create - start:0.0} ms to the ready line after the start process ended (the fabric's start returns once QEMU runs; near zero or negative: the guest was ready before the CLI process had exited){Forked(boot[0])}";
            if (boot.Count == 2 && boot[1].FirstCommandMedianMs is { } virshCreate)
            {
                line += $"; virsh create {boot[1].MedianMs:0.0} ms p50: the virsh process {virshCreate:0.0} ms, then {boot[1].MedianMs - virshCreate:0.0} ms to the ready line{Forked(boot[1])}";
            }

            where.Add(line);
        }

        return new CliReport(runs, ctl.Description, host.Accelerator, host.AcceleratorReason, baseline, libvirt, domainType, VmName, GuestMemoryMiB, calls, boot, bootRatio, targets, where, notes, loadAtStart, LoadAverage());
    }

    private static string Forked(CliBoot boot) => boot.QemuForkedMedianMs is { } forked
        ? $"; QEMU's process was forked {forked:0} ms after the first command started (p50, ±10 ms), {boot.MedianMs - forked:0} ms before the ready line"
        : "";

    /// <summary>What <c>./fabric ctl</c> runs: <c>FABRIC_BENCH_CTL</c> (a native executable, or a .dll run by dotnet), else the JIT build.</summary>
    private static Launcher CtlLauncher(string? configured)
    {
        var path = configured is { Length: > 0 }
            ? configured
            : Path.Combine(RepoPaths.Root, "src", "Fabric.Cli", "bin", AppContext.BaseDirectory.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release" : "Debug", "net10.0", "fabricctl.dll");
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"fabricctl is not built: {path} is missing (./fabric bench builds it)");
        }

        return path.EndsWith(".dll", StringComparison.Ordinal)
            ? new Launcher("dotnet", [path], $"dotnet {path}")
            : new Launcher(path, [], path);
    }

    private static string FirstLine(string text) => text.Trim().Split('\n')[0].Trim();

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
}
