namespace Fabric.TestSupport;

/// <summary>
/// Private directories of end-to-end tests (and the processes started in them). Their names carry the test run's tag
/// (<c>FABRIC_TEST_RUN</c>, set by <c>./fabric test</c>), so the sweep at the end of a run ends only what that run
/// left behind, never the processes of a run in another checkout. Short, because VM sockets live under them.
/// </summary>
public static class TestDirectories
{
    /// <summary>What every test directory's name starts with, under /tmp.</summary>
    public static string Prefix { get; } = Environment.GetEnvironmentVariable("FABRIC_TEST_RUN") is { Length: > 0 } run ? $"fab-{run}-" : "fab-";

    /// <summary>
    /// A new directory, root:fabric-qemu 0710: the confined QEMU processes of the hosts below (each its own uid, group
    /// fabric-qemu) must pass through it to their VM directories, and list nothing on the way.
    /// </summary>
    public static string Create()
    {
        var directory = Directory.CreateTempSubdirectory(Prefix).FullName;
        Fabric.Hypervisor.Confinement.Ownership.Set(directory, 0, Fabric.Hypervisor.Confinement.QemuGroup.Resolve(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute);
        return directory;
    }
}
