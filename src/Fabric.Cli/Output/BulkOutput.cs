using Fabric.Client;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>One VM's outcome in a bulk operation, as <c>-o json</c> prints it.</summary>
internal sealed record BulkResultView(string Vm, bool Ok, string? ErrorCode, string? Error, VmState? State, string? Host)
{
    public static BulkResultView From(BulkResult result, VmAction? action = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var state = result.Info?.State ?? (result.Succeeded && action == VmAction.Delete ? VmState.Deleted : null);
        return new(result.Vm, result.Succeeded, result.ErrorCode, result.Error, state, result.Info?.Host);
    }
}

internal static class BulkOutput
{
    public static void Table(IAnsiConsole console, IReadOnlyList<BulkResultView> results)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(results);
        var table = Cells.Table("VM", "RESULT", "STATE", "HOST", "ERROR");
        foreach (var result in results)
        {
            table.AddRow(
                Cells.Of(result.Vm),
                Cells.Of(result.Ok ? "ok" : result.ErrorCode),
                Cells.Of(result.State?.ToString()),
                Cells.Of(result.Host),
                Cells.Of(result.Error));
        }

        console.Write(table);
    }

    /// <summary>
    /// The error line of a bulk operation with failures, or null when all succeeded. Its code is the failures' code when
    /// they share one; the message counts them and quotes the first.
    /// </summary>
    public static string? FailureLine(IReadOnlyList<BulkResultView> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var failed = results.Where(r => !r.Ok).ToList();
        if (failed.Count == 0)
        {
            return null;
        }

        var codes = failed.Select(r => r.ErrorCode ?? ErrorLine.InternalCode).Distinct(StringComparer.Ordinal).ToList();
        var code = codes.Count == 1 ? codes[0] : ErrorCodes.Conflict;
        var first = failed[0];
        return ErrorLine.Format(code, $"{failed.Count} of {results.Count} VMs failed; first: vm '{first.Vm}': {first.ErrorCode}: {first.Error}");
    }
}
