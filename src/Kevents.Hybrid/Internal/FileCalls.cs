using Kevents.Native;

namespace Kevents.Hybrid.Internal;

/// <summary>
/// The file transfer both users of the cache-miss threads share: the threadlet file primitives (Threadlet.Files.cs)
/// and AsyncFile's threadlet engine (Kevents.File). Results are a count or -errno; nothing here throws.
/// </summary>
internal static class FileCalls
{
    /// <summary>
    /// A thread blocked on a non-blocking descriptor (a pipe or FIFO) waits for readiness in slices this long, so it
    /// notices cancellation and shutdown within that time.
    /// </summary>
    public const int WaitSliceMs = 50;

    /// <summary>
    /// One read or write at <paramref name="offset"/> (-1: at the file position). With <paramref name="noWait"/> it is
    /// the form that cannot block (RWF_NOWAIT: -EAGAIN when the kernel would wait). Without, it is the blocking form for
    /// a cache-miss thread: every Kevents descriptor is non-blocking, so on a pipe or FIFO "blocking" means waiting for
    /// readiness, slice by slice, until <paramref name="token"/> is cancelled (-ECANCELED).
    /// </summary>
    /// <remarks>A write only reads <paramref name="buffer"/>; it is a <see cref="Span{T}"/> so one loop serves both.</remarks>
    public static long Transfer(int fd, Span<byte> buffer, long offset, bool write, bool noWait, CancellationToken token)
    {
        while (true)
        {
            long rc = write ? NativeFile.Write(fd, buffer, offset, noWait) : NativeFile.Read(fd, buffer, offset, noWait);
            if (rc != -Errno.EAGAIN || noWait)
            {
                return rc;
            }
            if (!WaitReady(fd, write, token))
            {
                return -Errno.ECANCELED;
            }
        }
    }

    /// <summary>Waits until <paramref name="fd"/> is ready; false when <paramref name="token"/> was cancelled first.</summary>
    private static bool WaitReady(int fd, bool write, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            if (NativeFile.WaitReady(fd, write, WaitSliceMs) != 0)
            {
                return true;
            }
        }
        return false;
    }
}
