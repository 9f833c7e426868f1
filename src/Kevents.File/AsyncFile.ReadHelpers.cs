using Kevents.Hybrid.Internal;

namespace Kevents.File;

// Reads that keep going after a short read: the kernel may return fewer bytes than asked (a signal, a file that is
// being appended to, a network file system), and callers that need a whole record should not have to loop themselves.
public sealed partial class AsyncFile
{
    /// <summary>
    /// Fills <paramref name="buffer"/> from <paramref name="offset"/>, issuing further reads after short ones.
    /// </summary>
    /// <exception cref="EndOfStreamException">The file ended first; the message says how many bytes were read.</exception>
    public async ValueTask ReadExactlyAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken = default) =>
        await ReadAtLeastAsync(buffer, buffer.Length, offset, throwOnEndOfFile: true, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Reads at least <paramref name="minimumBytes"/> (and at most the buffer's length) from <paramref name="offset"/>,
    /// issuing further reads after short ones. Returns the bytes read; fewer than the minimum only at end of file
    /// when <paramref name="throwOnEndOfFile"/> is false.
    /// </summary>
    /// <exception cref="EndOfStreamException">The file ended before the minimum and <paramref name="throwOnEndOfFile"/> is true.</exception>
    public async ValueTask<int> ReadAtLeastAsync(Memory<byte> buffer, int minimumBytes, long offset, bool throwOnEndOfFile = true,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minimumBytes, buffer.Length);
        FileOffset.Check(offset);
        int total = 0;
        while (total < minimumBytes)
        {
            int n = await ReadAsync(buffer[total..], FileOffset.Advance(offset, total), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (throwOnEndOfFile)
                {
                    throw new EndOfStreamException(
                        $"'{Path}' ended at offset {FileOffset.Advance(offset, total)}: read {total} of the {minimumBytes} bytes wanted from offset {offset}.");
                }
                break;
            }
            total += n;
        }
        return total;
    }
}
