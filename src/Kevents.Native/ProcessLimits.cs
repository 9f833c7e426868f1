namespace Kevents.Native;

/// <summary>Process-wide facts Kevents needs: descriptor limits.</summary>
internal static unsafe class ProcessLimits
{
    private const int RlimitNofile = 7;
    private const int FDupFdCloexec = 1030; // F_DUPFD_CLOEXEC, linux/fcntl.h

    /// <summary>The soft RLIMIT_NOFILE: how many descriptors this process may hold open.</summary>
    public static long OpenFilesLimit()
    {
        Interop.Rlimit limit;
        return Interop.getrlimit(RlimitNofile, &limit) == 0 ? (long)Math.Min(limit.Current, long.MaxValue) : 1024;
    }

    /// <summary>Lowers (or raises up to the hard limit) the soft RLIMIT_NOFILE. Returns 0 or -errno.</summary>
    public static int SetOpenFilesLimit(long soft)
    {
        Interop.Rlimit limit;
        if (Interop.getrlimit(RlimitNofile, &limit) != 0)
        {
            return -Errno.Last();
        }
        limit.Current = (ulong)soft;
        return Interop.setrlimit(RlimitNofile, &limit) == 0 ? 0 : -Errno.Last();
    }

    /// <summary>
    /// Counts free descriptor numbers below the soft RLIMIT_NOFILE, stopping once <paramref name="enough"/> are
    /// found: how much headroom the whole process has, whoever opened what it holds. Each step asks the kernel for
    /// the lowest free number above the last one (F_DUPFD_CLOEXEC of <paramref name="anyOpenFd"/>) and closes it at
    /// once, so the cost is two system calls per free number found and at most one extra descriptor is held at a
    /// time. Returns the count (at most <paramref name="enough"/>), or -errno (-EBADF when
    /// <paramref name="anyOpenFd"/> is not open).
    /// </summary>
    public static int CountFreeDescriptors(int anyOpenFd, int enough)
    {
        long limit = OpenFilesLimit();
        int found = 0;
        long next = 0;
        while (found < enough && next < limit)
        {
            int fd = (int)Sys.Retry(new DupCall(anyOpenFd, (int)Math.Min(next, int.MaxValue)));
            if (fd < 0)
            {
                // EMFILE: no free number at or above `next` below the limit; EINVAL: `next` is at the limit.
                return fd is -Errno.EMFILE or -Errno.EINVAL ? found : fd;
            }
            Tmds.Linux.LibC.close(fd);
            found++;
            next = fd + 1L;
        }
        return found;
    }

    private readonly struct DupCall(int fd, int lowest) : ISyscall
    {
        public long Invoke(int length) => Tmds.Linux.LibC.fcntl(fd, FDupFdCloexec, lowest);
    }
}
