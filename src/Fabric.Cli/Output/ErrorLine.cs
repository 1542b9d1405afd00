using Fabric.Contracts;

namespace Fabric.Cli.Output;

/// <summary>The one line a failed command prints on stderr: <c>error: &lt;code&gt;: &lt;message&gt;</c>.</summary>
internal static class ErrorLine
{
    /// <summary>The code of a failure that is not a <see cref="FabricException"/>: a bug in the CLI or a library under it.</summary>
    public const string InternalCode = "internal";

    public static string Format(string code, string message) => $"error: {code}: {OneLine(message)}";

    public static string Format(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception is FabricException fabric
            ? Format(fabric.Code, fabric.Message)
            : Format(InternalCode, $"{exception.GetType().Name}: {exception.Message}");
    }

    /// <summary>Messages may carry newlines (from inner exceptions); the convention is one line.</summary>
    private static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
