namespace Fabric.Contracts;

/// <summary>
/// Marks a grain method that only the fabric's own grains and host agents may call: observations, reservations,
/// launches, host reports, credential checks. Calls to it from a client connection are refused with <c>forbidden</c>,
/// so the public path (the HTTP API, or any Orleans client) can never reach it.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Interface, Inherited = true)]
public sealed class HostInternalAttribute : Attribute;
