namespace Kevents.Hybrid.Internal;

/// <summary>
/// The one offset rule of threadlet and AsyncFile reads and writes: a byte position (0 or more), or -1 for "at the
/// file's current position" (what pipes and FIFOs need, and what preadv2 and io_uring mean by -1). Any other
/// negative is a mistake and is rejected, rather than quietly read as "current position".
/// </summary>
internal static class FileOffset
{
    public const long Current = -1;

    public static void Check(long offset, string parameterName = "offset")
    {
        if (offset < Current)
        {
            throw new ArgumentOutOfRangeException(parameterName, offset,
                $"A file offset is a byte position (0 or more), or -1 to use the file's current position; {offset} is neither.");
        }
    }

    /// <summary>The offset of the next piece after <paramref name="done"/> bytes: -1 stays -1 (the position moved by itself).</summary>
    public static long Advance(long offset, long done) => offset == Current ? Current : offset + done;
}
