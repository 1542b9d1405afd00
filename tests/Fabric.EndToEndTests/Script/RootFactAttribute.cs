using Fabric.TestSupport;

namespace Fabric.EndToEndTests.Script;

/// <summary>A fact that needs root (network namespaces); elsewhere it is skipped, saying so.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Underlay.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}
