namespace Kevents.Native;

/// <summary>Process-wide facts Kevents needs: descriptor limits.</summary>
public static unsafe class ProcessLimits
{
    private const int RlimitNofile = 7;

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
}
