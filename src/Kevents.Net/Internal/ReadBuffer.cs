using System.Runtime.CompilerServices;

namespace Kevents.Net.Internal;

/// <summary>
/// The buffer stream connections of one loop read into. One per loop is enough: a handler consumes the bytes before
/// the next read, and the loop is single-threaded. Idle connections therefore own no buffer at all.
/// </summary>
internal sealed class ReadBuffer
{
    private static readonly ConditionalWeakTable<EventLoop, ReadBuffer> s_perLoop = new();

    public ReadBuffer(int size) => Array = GC.AllocateUninitializedArray<byte>(size, pinned: true);

    public byte[] Array { get; }

    public static ReadBuffer For(EventLoop loop) => s_perLoop.GetValue(loop, static _ => new ReadBuffer(64 * 1024));
}
