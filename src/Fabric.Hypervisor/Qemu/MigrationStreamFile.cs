using System.Buffers.Binary;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// Checks that a file holds a whole QEMU migration stream, as a snapshot must. The stream starts with the magic
/// <c>QEVM</c> and version 3, and QEMU 7.2 ends it with <c>QEMU_VM_EOF</c> (0x00) followed by the machine's description:
/// <c>QEMU_VM_VMDESCRIPTION</c> (0x06), a big-endian 32-bit length and that many bytes of JSON. A stream cut short (its
/// writer killed before it had written everything) lacks that trailer, or its length does not reach the end.
/// </summary>
public static class MigrationStreamFile
{
    /// <summary>How far from the end the trailer is looked for: the description of a <c>pc</c> machine is about 100 KiB.</summary>
    public const int MaxTrailer = 16 << 20;

    private const byte VmEof = 0x00;
    private const byte VmDescription = 0x06;
    private static ReadOnlySpan<byte> Header => [(byte)'Q', (byte)'E', (byte)'V', (byte)'M', 0, 0, 0, 3];

    /// <summary>Whether <paramref name="path"/> starts as a migration stream and ends with its trailer.</summary>
    public static bool IsComplete(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var length = file.Length;
        Span<byte> header = stackalloc byte[8];
        if (length < header.Length || file.Read(header) != header.Length || !header.SequenceEqual(Header))
        {
            return false;
        }

        var tailLength = (int)Math.Min(length, MaxTrailer);
        var tail = new byte[tailLength];
        file.Seek(length - tailLength, SeekOrigin.Begin);
        file.ReadExactly(tail);
        return EndsWithTrailer(tail);
    }

    /// <summary>Whether <paramref name="tail"/> (the last bytes of a stream) ends with EOF and a whole description.</summary>
    public static bool EndsWithTrailer(ReadOnlySpan<byte> tail)
    {
        // Look from the end for EOF, the description marker and a length that reaches exactly to the end; the JSON
        // itself starts with '{'.
        for (var marker = tail.Length - 6; marker >= 1; marker--)
        {
            if (tail[marker] != VmDescription || tail[marker - 1] != VmEof)
            {
                continue;
            }

            var declared = BinaryPrimitives.ReadUInt32BigEndian(tail.Slice(marker + 1, 4));
            if (marker + 5L + declared == tail.Length && tail[marker + 5] == (byte)'{')
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="path"/> at least starts as a migration stream (<c>QEVM</c>, version 3).</summary>
    public static bool HasHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> header = stackalloc byte[8];
        return file.Length >= header.Length && file.Read(header) == header.Length && header.SequenceEqual(Header);
    }
}
