namespace Fabric.Contracts;

/// <summary>
/// The one exception type the fabric throws across grain and client boundaries:
/// a stable <see cref="Code"/> from <see cref="ErrorCodes"/> plus a message that names the field or object at fault.
/// </summary>
[GenerateSerializer, Alias("fabric.FabricException")]
public sealed class FabricException : Exception
{
    public FabricException(string code, string message)
        : base(message)
    {
        Code = code;
    }

    public FabricException(string code, string message, Exception innerException)
        : base(message, innerException)
    {
        Code = code;
    }

    [Id(0)]
    public string Code { get; }

    public static FabricException InvalidSpec(string field, string reason) => new(ErrorCodes.InvalidSpec, $"{field}: {reason}");

    public static FabricException NotFound(string kind, string name) => new(ErrorCodes.NotFound, $"{kind} '{name}' does not exist");

    public static FabricException Conflict(string message) => new(ErrorCodes.Conflict, message);

    public static FabricException InsufficientCapacity(string message) => new(ErrorCodes.InsufficientCapacity, message);

    public static FabricException Forbidden(string message) => new(ErrorCodes.Forbidden, message);

    public static FabricException InsufficientQuota(string message) => new(ErrorCodes.InsufficientQuota, message);

    public static FabricException Unavailable(string message) => new(ErrorCodes.Unavailable, message);

    public static FabricException Hypervisor(string message) => new(ErrorCodes.HypervisorError, message);
}
