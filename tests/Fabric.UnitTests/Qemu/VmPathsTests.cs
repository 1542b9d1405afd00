using System.Text;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Qemu;

namespace Fabric.UnitTests.Qemu;

public sealed class VmPathsTests
{
    private static readonly string LongestName = new('n', 63);

    [Fact]
    public void For_PutsRecordsInTheVmFolderAndWhatQemuCreatesInRun()
    {
        var paths = VmPaths.For("/srv/fabric", "web-1");

        Assert.Equal("/srv/fabric/vms/web-1", paths.Directory);
        Assert.Equal(paths.RunDirectory + "/qemu.pid", paths.PidFile);
        Assert.Equal("/srv/fabric/vms/web-1/console.log", paths.ConsoleLog);
        Assert.Equal("/srv/fabric/vms/web-1/instance.json", paths.InstanceFile);
        Assert.Matches("^/srv/fabric/run/[0-9a-f]{12}/qmp$", paths.QmpSocket);
        Assert.Equal(paths.RunDirectory + "/mig", paths.MigrationSocket);
        Assert.Equal("/srv/fabric/vms/web-1/qemu.log", paths.QemuLog);
    }

    [Fact]
    public void For_GivesEachVmItsOwnStableSockets()
    {
        var web = VmPaths.For("/srv/fabric", "web-1");

        Assert.Equal(web, VmPaths.For("/srv/fabric", "web-1"));
        Assert.NotEqual(web.QmpSocket, VmPaths.For("/srv/fabric", "web-2").QmpSocket);
        Assert.NotEqual(web.QmpSocket, VmPaths.For("/srv/fabric", "web-10").QmpSocket);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("a,b")]
    [InlineData("Web")]
    [InlineData("web\n")]
    [InlineData("web\0")]
    [InlineData("wеb")] // Cyrillic 'е'
    [InlineData("")]
    [InlineData(null)]
    public void For_RefusesNamesThatEscapeOrSplit(string? vm)
    {
        var error = Assert.Throws<HypervisorException>(() => VmPaths.For("/srv/fabric", vm!));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void For_Refuses64CharacterNames()
    {
        Assert.Throws<HypervisorException>(() => VmPaths.For("/srv/fabric", LongestName + "n"));
    }

    [Fact]
    public void Sockets_FitTheKernelLimitAtTheLongestDataDirectory()
    {
        var dataDirectory = "/" + new string('d', VmPaths.MaxDataDirectoryLength - 1);

        var paths = VmPaths.For(dataDirectory, LongestName);

        Assert.Equal(VmPaths.MaxSocketPath, Encoding.UTF8.GetByteCount(paths.QmpSocket)); // the limit is tight
        Assert.Equal(VmPaths.MaxSocketPath, Encoding.UTF8.GetByteCount(paths.MigrationSocket));
    }

    [Fact]
    public void Sockets_DoNotDependOnTheVmNameLength()
    {
        Assert.Equal(VmPaths.For("/d", "a").QmpSocket.Length, VmPaths.For("/d", LongestName).QmpSocket.Length);
    }

    [Fact]
    public void TooLongDataDirectory_IsRefusedRatherThanGivenAnUnbindableSocket()
    {
        var dataDirectory = "/" + new string('d', VmPaths.MaxDataDirectoryLength);

        var error = Assert.Throws<HypervisorException>(() => VmPaths.For(dataDirectory, "web-1"));

        Assert.Equal(HypervisorErrorKind.InvalidRequest, error.Kind);
    }

    [Fact]
    public void MultiByteDataDirectory_IsMeasuredInBytes()
    {
        // Within the limit in characters, beyond it in UTF-8 bytes: the kernel counts bytes.
        var dataDirectory = "/" + new string('é', VmPaths.MaxDataDirectoryLength - 1);

        Assert.Throws<HypervisorException>(() => VmPaths.For(dataDirectory, "web-1"));
        Assert.Equal(VmPaths.MaxSocketPath, Encoding.UTF8.GetByteCount(VmPaths.For("/" + new string('é', 40) + new string('d', 5), "web-1").QmpSocket));
    }
}
