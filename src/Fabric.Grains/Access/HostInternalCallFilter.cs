using System.Collections.Concurrent;
using System.Reflection;
using Fabric.Contracts;

namespace Fabric.Grains.Access;

/// <summary>
/// Refuses with <c>forbidden</c> a call from a client connection to a method marked <see cref="HostInternalAttribute"/>
/// (on the method or its interface). Grains, and the silo's own services (the host agent, the API), call through the
/// silo: Orleans sends their calls as the calling grain or as the silo's hosted client, both accepted. A client
/// connected through a gateway sends as its own client id, and is refused.
/// </summary>
/// <remarks>
/// This keeps honest clients (fabricctl, <c>FabricClient</c>, anything behind the API) off the fabric's coordination
/// methods. It is not a defence against a hostile Orleans client, which chooses the sender id it claims: the silo and
/// gateway ports belong on a trusted network.
/// </remarks>
internal sealed class HostInternalCallFilter : IIncomingGrainCallFilter
{
    /// <summary>How Orleans names the client it hosts inside each silo (<c>hosted-&lt;silo address&gt;</c>).</summary>
    private static readonly byte[] HostedClientPrefix = "hosted-"u8.ToArray();

    private readonly ConcurrentDictionary<MethodInfo, bool> _internal = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var method = context.InterfaceMethod;
        if (_internal.GetOrAdd(method, IsHostInternal) && context.SourceId is { } source && IsClientConnection(source))
        {
            throw FabricException.Forbidden($"{method.DeclaringType?.Name}.{method.Name} is internal to the fabric");
        }

        return context.Invoke();
    }

    /// <summary>Whether the method, or the interface declaring it, is marked <see cref="HostInternalAttribute"/>.</summary>
    public static bool IsHostInternal(MethodInfo method) =>
        method.IsDefined(typeof(HostInternalAttribute)) || method.DeclaringType?.IsDefined(typeof(HostInternalAttribute)) == true;

    private static bool IsClientConnection(GrainId source) =>
        source.IsClient() && !source.Key.AsSpan().StartsWith(HostedClientPrefix);
}
