namespace Kevents.Net.Internal;

/// <summary>
/// The buffer stream connections of one loop read into. One per loop is enough: a handler consumes the bytes before
/// the next read, and the loop is single-threaded. Idle connections therefore own no buffer at all.
/// </summary>
internal sealed class ReadBuffer
{
    public ReadBuffer(int size) => Array = GC.AllocateUninitializedArray<byte>(size, pinned: true);

    public byte[] Array { get; }

    /// <summary>The loop's buffer (kept in <see cref="NetLoop"/>).</summary>
    public static ReadBuffer For(EventLoop loop) => NetLoop.Of(loop).ReadBuffer;
}
