using System.Globalization;
using Fabric.Contracts;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>How values look in tables. Every cell is plain <see cref="Text"/>: names and reasons are never read as markup.</summary>
internal static class Cells
{
    public const string None = "-";

    public static Text Of(string? value) => new(string.IsNullOrEmpty(value) ? None : value);

    public static Text Of(int value) => new(value.ToString(CultureInfo.InvariantCulture));

    public static string Labels(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0 ? None : string.Join(',', labels.Select(p => $"{p.Key}={p.Value}"));

    public static string List(IEnumerable<string> items) => string.Join(", ", items) is { Length: > 0 } joined ? joined : None;

    public static string Memory(long mib) => Sizes.FormatMiB(mib);

    public static string Time(DateTimeOffset at) =>
        at == default ? None : at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string VmState(VmInfo vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        return vm.Reachable ? vm.State.ToString() : $"{vm.State} (unreachable)";
    }

    /// <summary>A borderless table with upper-case headers, like <c>kubectl get</c>.</summary>
    public static Table Table(params string[] headers)
    {
        var table = new Table().Border(TableBorder.None);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn(new Text(header)).PadLeft(0).PadRight(3));
        }

        return table;
    }

    /// <summary>A two-column key/value grid for <c>get</c> commands.</summary>
    public static Grid Details()
    {
        var grid = new Grid();
        grid.AddColumn(new GridColumn().NoWrap().PadRight(2));
        grid.AddColumn(new GridColumn());
        return grid;
    }

    public static void Row(this Grid grid, string key, string? value)
    {
        ArgumentNullException.ThrowIfNull(grid);
        grid.AddRow(new Text(key + ":"), Of(value));
    }
}
