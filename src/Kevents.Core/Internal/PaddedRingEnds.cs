using System.Runtime.InteropServices;

namespace Kevents.Internal;

/// <summary>
/// The head and tail of an <see cref="MpscRing{T}"/>, each alone on its cache line, so the producers' claims and the
/// consumer's progress do not invalidate each other's line. 128 bytes also covers the x64 adjacent-line prefetcher
/// (the runtime's ConcurrentQueue pads the same way). Not nested in the ring: a generic type cannot have explicit layout.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 3 * CacheLine)]
internal struct PaddedRingEnds
{
    private const int CacheLine = 128;

    /// <summary>Next position a producer claims; written only by producers, with CAS.</summary>
    [FieldOffset(CacheLine)]
    public long Tail;

    /// <summary>Next position the consumer takes; written only by the consumer.</summary>
    [FieldOffset(2 * CacheLine)]
    public long Head;
}
