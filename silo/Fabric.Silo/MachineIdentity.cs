namespace Fabric.Silo;

/// <summary>
/// Which machine this silo runs on, when <c>Fabric:MachineId</c> does not say (in Kubernetes, set it to the node's
/// name): the systemd/dbus machine id, else the host name.
/// </summary>
internal static class MachineIdentity
{
    private static readonly string[] Sources = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

    public static string Read()
    {
        foreach (var path in Sources)
        {
            try
            {
                if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } id)
                {
                    return id;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Try the next source.
            }
        }

        return Environment.MachineName;
    }
}
