using Fabric.Hypervisor.Linux;

namespace Fabric.EndToEndTests.Migration;

/// <summary>A fact that needs post-copy (userfaultfd for QEMU); where the kernel does not allow it, skipped with the reason.</summary>
public sealed class PostcopyFactAttribute : FactAttribute
{
    public PostcopyFactAttribute()
    {
        if (Userfaultfd.UnavailableReason() is { } reason)
        {
            Skip = reason;
        }
    }
}
