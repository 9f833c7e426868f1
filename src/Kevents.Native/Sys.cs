using System.Runtime.CompilerServices;

namespace Kevents.Native;

/// <summary>
/// One system call with its arguments bound, for <see cref="Sys"/> to make as often as EINTR asks. Implemented by
/// small readonly structs next to each wrapper, so the generic funnel is specialised per call and allocates nothing.
/// </summary>
internal interface ISyscall
{
    /// <summary>
    /// Makes the call once and returns the C library's raw result (negative, with errno set, on failure).
    /// <paramref name="length"/> is the byte or segment count to pass: the wrapper's own, or fewer under fault injection.
    /// Calls without a count ignore it.
    /// </summary>
    long Invoke(int length);
}

/// <summary>
/// The funnel every Native wrapper calls through (the idea of mio's <c>syscall!</c>): it asks fault injection first,
/// makes the call, turns -1 plus errno into <c>-errno</c>, and retries EINTR, so an injected EINTR takes exactly the
/// loop a real one does. Each wrapper names its <see cref="FaultSite"/> once, here.
/// </summary>
internal static class Sys
{
    /// <summary>
    /// Makes <paramref name="call"/> until it is not interrupted: its value, or -errno. With <paramref name="alsoRetry"/>
    /// another errno is retried too (accept's ECONNABORTED).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Retry<TCall>(FaultSite site, int fd, int length, TCall call, int alsoRetry = Errno.EINTR)
        where TCall : struct, ISyscall
    {
        while (true)
        {
            long rc = Once(site, fd, length, call);
            if (rc != -Errno.EINTR && rc != -alsoRetry)
            {
                return rc;
            }
        }
    }

    /// <summary>Like <see cref="Retry{TCall}(FaultSite, int, int, TCall, int)"/> for a call no fault plan can reach.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Retry<TCall>(TCall call, int length = 0)
        where TCall : struct, ISyscall
    {
        while (true)
        {
            long rc = Once(call, length);
            if (rc != -Errno.EINTR)
            {
                return rc;
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="call"/> once, unless the armed fault plan fails it first: its value, or -errno, EINTR
    /// included. For the calls whose EINTR means something else (epoll_wait's "nothing yet").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Once<TCall>(FaultSite site, int fd, int length, TCall call)
        where TCall : struct, ISyscall
    {
        if (FaultInjection.Fails(site, fd, out int fault))
        {
            return -fault;
        }
        return Once(call, FaultInjection.Length(site, fd, length));
    }

    /// <summary>Makes <paramref name="call"/> once: its value, or -errno.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Once<TCall>(TCall call, int length = 0)
        where TCall : struct, ISyscall
    {
        long rc = call.Invoke(length);
        // Read errno at once: any later P/Invoke on this thread may overwrite it.
        return rc >= 0 ? rc : -Errno.Last();
    }
}
