using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Fabric.Hypervisor.Qemu;

/// <summary>Guest memory dumps, through QMP <c>pmemsave</c>.</summary>
public sealed partial class QemuDriver : IGuestMemory
{
    public async Task<string> DumpAsync(string vm, long address, long length, CancellationToken cancellationToken)
    {
        if (address < 0)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"address {address} is negative");
        }

        if (length is < 0 or > IGuestMemory.MaxDumpLength)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest,
                $"length {length} is out of range: a dump is 0 to {IGuestMemory.MaxDumpLength} bytes (1 GiB)");
        }

        var qemu = Require(vm);

        // QEMU writes the file itself, so the path must be one the driver chose: never a caller's, which would let a
        // request overwrite any file QEMU may write. A daemonized QEMU runs in '/', hence the absolute path.
        // The run directory is the VM uid's (QEMU creates the file; the VM's directory is root's).
        var path = Path.GetFullPath(Path.Combine(qemu.Paths.RunDirectory, IGuestMemory.DumpFileName));

        // A dump that fails half-way must not leave the previous one looking like its result.
        File.Delete(path);
        var started = Stopwatch.GetTimestamp();
        await qemu.CommandAsync(
            "pmemsave",
            new JsonObject { ["val"] = address, ["size"] = length, ["filename"] = path },
            cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        LogMemoryDumped(vm, length, address, elapsed.TotalMilliseconds);
        return path;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm}: dumped {Length} bytes of guest memory from 0x{Address:x} in {Milliseconds:0.0} ms")]
    private partial void LogMemoryDumped(string vm, long length, long address, double milliseconds);
}
