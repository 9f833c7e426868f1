using System.Buffers;
using System.Runtime.CompilerServices;

namespace Kevents.Native;

internal static unsafe partial class NativeSocket
{
    private const int MaxGatherSegments = 16;

    [InlineArray(MaxGatherSegments)]
    private struct PinnedSegments
    {
        private MemoryHandle _element;
    }

    /// <summary>
    /// Sends up to <paramref name="maxBytes"/> of <paramref name="data"/> in one gather call (sendmsg with up to 16
    /// segments, MSG_NOSIGNAL): bytes sent (possibly fewer), or -errno.
    /// </summary>
    public static long SendSequence(int fd, in ReadOnlySequence<byte> data, int maxBytes)
    {
        if (data.IsSingleSegment)
        {
            ReadOnlySpan<byte> span = data.FirstSpan;
            return Send(fd, span.Length > maxBytes ? span[..maxBytes] : span);
        }

        PinnedSegments pins = default;
        IoSegment* segments = stackalloc IoSegment[MaxGatherSegments];
        int count = 0;
        int total = 0;
        try
        {
            foreach (ReadOnlyMemory<byte> memory in data)
            {
                if (memory.IsEmpty)
                {
                    continue;
                }
                if (count == MaxGatherSegments || total >= maxBytes)
                {
                    break;
                }
                int length = Math.Min(memory.Length, maxBytes - total);
                pins[count] = memory.Pin();
                // Safety: the segment stays pinned by its MemoryHandle until the finally block, after the call.
                segments[count] = new IoSegment((byte*)pins[count].Pointer, length);
                total += length;
                count++;
            }
            return SendVector(fd, segments, count);
        }
        finally
        {
            for (int i = 0; i < count; i++)
            {
                pins[i].Dispose();
            }
        }
    }
}
