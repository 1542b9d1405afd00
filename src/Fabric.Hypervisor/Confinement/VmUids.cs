using System.Globalization;
using System.Security.Cryptography;

namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// One numeric uid per VM instance, from a range no account uses (no <c>/etc/passwd</c> entry needed). As sVirt labels
/// each VM, a uid of its own means one compromised QEMU cannot read another VM's disks, memory (<c>/proc/PID/mem</c>,
/// ptrace) or sockets. The start is a hash of the instance id, so the same instance asks for the same uid; a uid some
/// process runs as, or that owns an existing VM directory, is taken, and the next one is tried.
/// </summary>
public static class VmUids
{
    public static int Allocate(Guid instanceId, int baseUid, int count, Func<int, bool> isTaken)
    {
        ArgumentNullException.ThrowIfNull(isTaken);
        if (baseUid <= 0 || count <= 0 || (long)baseUid + count > int.MaxValue)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"VM uid range {baseUid}+{count} is not a range of positive uids");
        }

        var start = (int)(BitConverter.ToUInt32(SHA256.HashData(instanceId.ToByteArray()), 0) % (uint)count);
        for (var probe = 0; probe < count; probe++)
        {
            var uid = baseUid + ((start + probe) % count);
            if (!isTaken(uid))
            {
                return uid;
            }
        }

        throw new HypervisorException(HypervisorErrorKind.Failed, $"every uid of the VM range {baseUid}+{count} is in use");
    }

    /// <summary>The uids of every process on the machine (real, effective, saved, file system), read from <c>/proc</c>.</summary>
    public static HashSet<int> OfRunningProcesses()
    {
        var uids = new HashSet<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            try
            {
                foreach (var line in File.ReadLines(Path.Combine(entry, "status")))
                {
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    {
                        foreach (var field in line["Uid:".Length..].Split('\t', StringSplitOptions.RemoveEmptyEntries))
                        {
                            uids.Add(int.Parse(field, CultureInfo.InvariantCulture));
                        }

                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }

        return uids;
    }
}
