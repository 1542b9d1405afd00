namespace Fabric.EndToEndTests.Storage;

/// <summary>A fact that mounts a file system (a small tmpfs, to fill it); elsewhere than root it is skipped, saying so.</summary>
public sealed class MountFactAttribute : FactAttribute
{
    public MountFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "mounting a tmpfs needs root (CI runs as root)";
        }
    }
}
