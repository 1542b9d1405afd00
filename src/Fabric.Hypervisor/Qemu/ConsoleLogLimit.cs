namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// How much console output a VM may keep on disk, and how rotation shares it: <c>console.log</c> is rotated once it
/// holds half of <see cref="Bytes"/>, and the rotation keeps the newest other half in <c>console.log.1</c>
/// (starting at a line, when one starts near the cut). So the two files hold at most <see cref="Bytes"/>, plus what
/// the guest writes between the moment <c>console.log</c> reaches its half and the check that rotates it.
/// </summary>
internal readonly record struct ConsoleLogLimit
{
    /// <summary>The smallest limit accepted: below it rotations would come too often to be worth their copies.</summary>
    public const long Minimum = 64 * 1024;

    /// <summary>How far past the cut rotation looks for the start of a line.</summary>
    private const int LineSearch = 4096;

    public ConsoleLogLimit(long bytes)
    {
        if (bytes < Minimum)
        {
            throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"the console log limit is {bytes} bytes; it must be at least {Minimum}");
        }

        Bytes = bytes;
    }

    public long Bytes { get; }

    /// <summary>The length at which <c>console.log</c> is rotated.</summary>
    public long RotateAt => Bytes / 2;

    /// <summary>The most output a rotation keeps in <c>console.log.1</c>.</summary>
    public long Keep => Bytes - RotateAt;

    public bool ShouldRotate(long currentLength) => currentLength >= RotateAt;

    /// <summary>
    /// Where the kept part of a <paramref name="length"/>-byte <c>console.log</c> begins: <see cref="Keep"/> bytes
    /// before its end, moved forward to the start of the next line when one starts within <see cref="LineSearch"/>
    /// bytes. <paramref name="read"/> reads the file at a position into a buffer and returns the count read.
    /// </summary>
    public long KeepFrom(long length, Func<long, Span<byte>, int> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        var cut = Math.Max(0, length - Keep);
        if (cut == 0)
        {
            return 0;
        }

        // Read from the byte before the cut: if that is a newline, the cut already starts a line.
        Span<byte> window = stackalloc byte[LineSearch + 1];
        var count = read(cut - 1, window[..(int)Math.Min(window.Length, length - cut + 1)]);
        var newline = window[..count].IndexOf((byte)'\n');
        return newline < 0 ? cut : cut + newline;
    }
}
