namespace Kevents.Native;

/// <summary>
/// Which CPUs a thread may run on (sched_getaffinity(2), sched_setaffinity(2)) and which one it runs on now
/// (sched_getcpu(3)). Loops of an event-loop group pin themselves with these, one loop per CPU.
/// </summary>
internal static unsafe class CpuAffinity
{
    // 1,024 CPUs, glibc's CPU_SETSIZE: a mask of this size is accepted on every kernel Kevents runs on.
    private const int MaskWords = 1024 / 64;

    /// <summary>
    /// The CPUs the calling thread may run on, in ascending order (an empty array when the call fails, which it does
    /// only on machines with more than 1,024 CPUs).
    /// </summary>
    public static int[] AllowedCpus()
    {
        ulong* mask = stackalloc ulong[MaskWords];
        long rc = Sys.Retry(new GetAffinityCall(mask));
        if (rc < 0)
        {
            return [];
        }
        var cpus = new List<int>();
        for (int word = 0; word < MaskWords; word++)
        {
            for (int bit = 0; bit < 64; bit++)
            {
                if ((mask[word] & (1UL << bit)) != 0)
                {
                    cpus.Add(word * 64 + bit);
                }
            }
        }
        return [.. cpus];
    }

    /// <summary>
    /// Confines the calling thread to <paramref name="cpu"/>. Returns 0 or -errno (-EINVAL when that CPU is offline
    /// or outside the process's cpuset, -EPERM when a container forbids it).
    /// </summary>
    public static int PinCurrentThread(int cpu)
    {
        if (cpu < 0 || cpu >= MaskWords * 64)
        {
            return -Errno.EINVAL;
        }
        ulong* mask = stackalloc ulong[MaskWords];
        new Span<ulong>(mask, MaskWords).Clear();
        mask[cpu / 64] = 1UL << (cpu % 64);
        return (int)Sys.Retry(new SetAffinityCall(mask));
    }

    /// <summary>The CPU the calling thread runs on at this instant, or -errno.</summary>
    public static int CurrentCpu() => (int)Sys.Retry(new GetCpuCall());

    private readonly struct GetAffinityCall(ulong* mask) : ISyscall
    {
        // pid 0: the calling thread.
        public long Invoke(int length) => Interop.sched_getaffinity(0, MaskWords * sizeof(ulong), mask);
    }

    private readonly struct SetAffinityCall(ulong* mask) : ISyscall
    {
        public long Invoke(int length) => Interop.sched_setaffinity(0, MaskWords * sizeof(ulong), mask);
    }

    private readonly struct GetCpuCall : ISyscall
    {
        public long Invoke(int length) => Interop.sched_getcpu();
    }
}
