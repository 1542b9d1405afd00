using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Fabric.Hypervisor;

/// <summary>
/// The one rule for names that become file names or QEMU option values on this machine (VMs, snapshots, volumes,
/// images, guest images): 1–63 characters of <c>a-z</c>, <c>0-9</c> and <c>-</c>, starting and ending with a letter
/// or digit. Such a name has no <c>/</c>, no <c>.</c>, no <c>,</c> and no whitespace, so it cannot leave its folder or
/// split an option. The contracts check the same rule at the API; the driver checks again, as defence in depth.
/// </summary>
public static partial class SafeNames
{
    public const int MaxLength = 63;

    public static bool IsSafe([NotNullWhen(true)] string? name) =>
        name is { Length: > 0 and <= MaxLength } && Pattern().IsMatch(name);

    /// <summary>Throws <see cref="HypervisorException"/> (<c>InvalidRequest</c>): "'x' is not a safe <paramref name="what"/> name".</summary>
    public static void Ensure([NotNull] string? name, string what)
    {
        if (!IsSafe(name))
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"'{name}' is not a safe {what} name");
        }
    }

    // \z, not $: in .NET '$' also matches before a final newline, which would let "name\n" through.
    [GeneratedRegex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
