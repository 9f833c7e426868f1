using System.Buffers;

namespace Kevents.Net.Internal;

/// <summary>
/// The pools connections take buffers from: pipe segments for <see cref="PipeConnection"/>, queued-output arrays
/// for <see cref="StreamConnection"/>. They are the shared pools; tests swap in counting pools (before any
/// connection exists) so their leak gate can prove every buffer went back.
/// </summary>
internal static class NetBuffers
{
    /// <summary>Where pipe segments come from. <see cref="MemoryPool{T}.Shared"/> lets a pipe use its own array pool.</summary>
    internal static MemoryPool<byte> Segments { get; set; } = MemoryPool<byte>.Shared;

    /// <summary>Where queued output of the stream API comes from.</summary>
    internal static ArrayPool<byte> Arrays { get; set; } = ArrayPool<byte>.Shared;

    /// <summary>Connections created and not yet closed, in the whole process.</summary>
    internal static long LiveConnections => Interlocked.Read(ref s_live);

    private static long s_live;

    internal static void ConnectionOpened() => Interlocked.Increment(ref s_live);

    internal static void ConnectionClosed() => Interlocked.Decrement(ref s_live);
}
