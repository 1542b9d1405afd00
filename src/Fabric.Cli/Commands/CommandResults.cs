using System.CommandLine;
using Fabric.Cli.Output;
using Spectre.Console;

namespace Fabric.Cli.Commands;

/// <summary>What the object commands (pools, volumes, images, networks) share: a name argument, a result as a table or JSON.</summary>
internal static class CommandResults
{
    public static Argument<string> NameArgument(string name, string field) => new(name)
    {
        Description = $"The {field}'s name",
        CustomParser = r => Parsers.Parse(r, text => Parsers.Name(field, text)) ?? "",
    };

    public static async Task<int> WriteAsync<T>(CommandContext context, T value, Action<IAnsiConsole, T> table)
    {
        if (context.Json)
        {
            await Json.WriteAsync(context.Io.Out, value);
        }
        else
        {
            table(context.Out, value);
        }

        return ExitCodes.Success;
    }

    public static async Task<int> DoneAsync(CommandContext context, string line, object json)
    {
        if (context.Json)
        {
            await Json.WriteAsync(context.Io.Out, json);
        }
        else
        {
            context.Out.WriteLine(line);
        }

        return ExitCodes.Success;
    }
}
