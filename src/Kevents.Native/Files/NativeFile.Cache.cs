namespace Kevents.Native;

// Asking whether a range of a file is in the page cache, so a loop can send it with sendfile knowing the kernel will
// not wait for a disk on its thread (sendfile has no "don't wait" flag), and move the misses to a thread.
internal static unsafe partial class NativeFile
{
    private const int ProtRead = 1;    // PROT_READ
    private const int MapShared = 1;   // MAP_SHARED
    private const int MincoreBatch = 256;

    /// <summary>
    /// 1 when every page of <paramref name="length"/> bytes of <paramref name="fd"/> from <paramref name="offset"/>
    /// is in the page cache and read (up to date), 0 when some is not, or -errno (-EBADF for a closed descriptor).
    /// Never waits for a disk.
    /// </summary>
    /// <remarks>
    /// mincore(2) over a mapping of the range that is never touched (mmap, mincore, munmap: no page is faulted in).
    /// mincore counts a page only once its read has completed, which is what matters here: readahead puts pages in the
    /// cache before the disk has filled them, and a sendfile of such a page waits for the disk (cachestat(2) counts
    /// those pages as cached, so it cannot answer this). A descriptor that cannot be mapped gets the RWF_NOWAIT probe
    /// instead: a one-byte read of the range's first and last page.
    /// </remarks>
    public static int CachedPages(int fd, long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length <= 0)
        {
            return 1;
        }
        long page = Environment.SystemPageSize;
        long start = offset / page * page;
        long span = offset + length - start;
        long pages = (span + page - 1) / page;
        void* map = Interop.mmap(null, (nuint)span, ProtRead, MapShared, fd, start);
        if (map == (void*)-1)
        {
            int error = Errno.Last();
            return error == Errno.EBADF ? -Errno.EBADF : NoWaitProbe(fd, offset, length);
        }
        try
        {
            byte* vector = stackalloc byte[MincoreBatch];
            for (long done = 0; done < pages; done += MincoreBatch)
            {
                long count = Math.Min(MincoreBatch, pages - done);
                long rc = Sys.Retry(FaultSite.FileCacheProbe, fd, 0, new MincoreCall((byte*)map + done * page, (nuint)(count * page), vector));
                if (rc < 0)
                {
                    return rc == -Errno.EAGAIN ? 0 : (int)rc; // EAGAIN only from fault injection: the test's "not cached"
                }
                for (int i = 0; i < count; i++)
                {
                    if ((vector[i] & 1) == 0)
                    {
                        return 0;
                    }
                }
            }
            return 1;
        }
        finally
        {
            Interop.munmap(map, (nuint)span);
        }
    }

    private static int NoWaitProbe(int fd, long offset, long length)
    {
        byte probe;
        long first = Read(fd, new Span<byte>(&probe, 1), offset, noWait: true);
        if (first < 0)
        {
            return first == -Errno.EAGAIN ? 0 : (int)first;
        }
        long last = Read(fd, new Span<byte>(&probe, 1), offset + length - 1, noWait: true);
        return last >= 0 ? 1 : last == -Errno.EAGAIN ? 0 : (int)last;
    }

    private readonly struct MincoreCall(byte* address, nuint length, byte* vector) : ISyscall
    {
        public long Invoke(int count) => Interop.mincore(address, length, vector);
    }
}
