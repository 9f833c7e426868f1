using System.Runtime.InteropServices;

namespace Kevents.Native;

// Asking whether a range of a file is in the page cache, so a loop can send it with sendfile knowing the kernel will
// not wait for a disk on its thread (sendfile has no "don't wait" flag), and move the misses to a thread.
internal static unsafe partial class NativeFile
{
    private const long SysCachestat = 451;   // cachestat(2), Linux 6.5; the same number on x86_64 and arm64

    private static int s_cachestat; // 0 unknown, 1 supported, -1 not (ENOSYS, or refused by a seccomp filter)

    /// <summary>
    /// 1 when every page of <paramref name="length"/> bytes of <paramref name="fd"/> from <paramref name="offset"/>
    /// is in the page cache, 0 when some is not, or -errno (-EBADF for a closed descriptor). Never waits for a disk.
    /// </summary>
    /// <remarks>
    /// cachestat(2) counts the cached pages of the range in one call. Kernels before 6.5 (or a seccomp filter that
    /// refuses it) get the RWF_NOWAIT probe instead: a one-byte read of the range's first and last page. That misses
    /// a hole in the middle, which then costs one page's read on the loop thread, as it would have without a probe.
    /// </remarks>
    public static int CachedPages(int fd, long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length <= 0)
        {
            return 1;
        }
        if (Volatile.Read(ref s_cachestat) >= 0)
        {
            var range = new CachestatRange { Offset = (ulong)offset, Length = (ulong)length };
            Cachestat stat;
            long rc = Sys.Retry(FaultSite.FileCacheProbe, fd, 0, new CachestatCall(fd, &range, &stat));
            if (rc == 0)
            {
                Volatile.Write(ref s_cachestat, 1);
                long pageSize = Environment.SystemPageSize;
                long pages = (offset + length + pageSize - 1) / pageSize - offset / pageSize;
                return stat.Cached >= (ulong)pages ? 1 : 0;
            }
            if (rc == -Errno.EAGAIN)
            {
                return 0; // only from fault injection: the test's "not cached"
            }
            if (rc != -Errno.ENOSYS && rc != -Errno.EPERM && rc != -Errno.EOPNOTSUPP)
            {
                return (int)rc;
            }
            Volatile.Write(ref s_cachestat, -1);
        }
        byte probe;
        long first = Read(fd, new Span<byte>(&probe, 1), offset, noWait: true);
        if (first < 0)
        {
            return first == -Errno.EAGAIN ? 0 : (int)first;
        }
        long last = Read(fd, new Span<byte>(&probe, 1), offset + length - 1, noWait: true);
        return last >= 0 ? 1 : last == -Errno.EAGAIN ? 0 : (int)last;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CachestatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    // struct cachestat, linux/mman.h: only the first count is read.
    [StructLayout(LayoutKind.Sequential)]
    private struct Cachestat
    {
        public ulong Cached;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }

    private readonly struct CachestatCall(int fd, CachestatRange* range, Cachestat* stat) : ISyscall
    {
        public long Invoke(int length) => Interop.syscall4(SysCachestat, fd, range, stat, 0);
    }
}
