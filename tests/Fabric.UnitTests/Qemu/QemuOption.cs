using System.Text;

namespace Fabric.UnitTests.Qemu;

/// <summary>Reads a QEMU <c>backend,key=value,…</c> option back the way QEMU does: ",," is a literal comma.</summary>
internal static class QemuOption
{
    /// <summary>The option's parts by key; a part without '=' (the backend, e.g. <c>socket</c>) maps to "".</summary>
    public static Dictionary<string, string> Parse(string option)
    {
        var parts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in Split(option))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var (key, value) = eq < 0 ? (part, "") : (part[..eq], part[(eq + 1)..]);
            Assert.True(parts.TryAdd(key, value), $"'{key}' appears twice in '{option}'");
        }

        return parts;
    }

    private static List<string> Split(string option)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < option.Length; i++)
        {
            if (option[i] != ',')
            {
                current.Append(option[i]);
            }
            else if (i + 1 < option.Length && option[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else
            {
                parts.Add(current.ToString());
                current.Clear();
            }
        }

        parts.Add(current.ToString());
        return parts;
    }
}
