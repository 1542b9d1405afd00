using System.Globalization;

namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// The one group every VM's uid runs in (<c>fabric-qemu</c>, made by <c>./fabric setup</c>). It is used only to let QEMU
/// pass through the host's directories (root-owned, mode 0710) and read guest images; nothing is writable through it.
/// </summary>
public static class QemuGroup
{
    public const string Name = "fabric-qemu";

    /// <summary>The group's gid from <paramref name="groupFile"/>; throws naming the group when it is missing.</summary>
    public static int Resolve(string groupFile = "/etc/group")
    {
        foreach (var line in File.ReadLines(groupFile))
        {
            var fields = line.Split(':');
            if (fields.Length >= 3 && fields[0] == Name && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            {
                return gid;
            }
        }

        throw new HypervisorException(HypervisorErrorKind.Failed,
            $"group '{Name}' does not exist ({groupFile}); QEMU processes run in it. Create it with 'groupadd --system {Name}' (./fabric setup does)");
    }
}
