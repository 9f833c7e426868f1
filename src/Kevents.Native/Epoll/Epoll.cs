using Tmds.Linux;

namespace Kevents.Native;

/// <summary>epoll: the readiness poller behind every Kevents loop.</summary>
internal static unsafe class Epoll
{
    /// <summary>EPOLL_CTL_ADD.</summary>
    public const int Add = 1;
    /// <summary>EPOLL_CTL_DEL.</summary>
    public const int Delete = 2;
    /// <summary>EPOLL_CTL_MOD.</summary>
    public const int Modify = 3;

    /// <summary>Creates an epoll instance (CLOEXEC). Returns 0 or -errno.</summary>
    public static int Create(out FileDescriptor? epoll) =>
        FileDescriptor.FromResult(LibC.epoll_create1(LibC.EPOLL_CLOEXEC), out epoll);

    /// <summary>Adds, modifies or deletes interest in <paramref name="fd"/>. Returns 0 or -errno.</summary>
    public static int Control(int epfd, int op, int fd, EpollFlags events, ulong data)
    {
        if (FaultInjection.Fails(FaultSite.EpollControl, fd, out int fault))
        {
            return -fault;
        }
        epoll_event ev = default;
        ev.events = (int)events;
        ev.data.u64 = data;
        return Errno.Result(LibC.epoll_ctl(epfd, op, fd, &ev));
    }

    // Cleared the first time epoll_pwait2 turns out to be missing (old glibc: no symbol; old kernel: ENOSYS).
    private static bool s_precise = true;

    /// <summary>
    /// Like <see cref="Wait"/> with a nanosecond timeout (-1 forever), through epoll_pwait2 where the kernel and C
    /// library have it (Linux 5.11, glibc 2.35); elsewhere the timeout is rounded up to whole milliseconds.
    /// </summary>
    public static int WaitPrecise(int epfd, Span<EpollEvent> events, long timeoutNs)
    {
        if (timeoutNs <= 0 || !s_precise)
        {
            return Wait(epfd, events, timeoutNs < 0 ? -1 : (int)Math.Min(int.MaxValue, (timeoutNs + 999_999) / 1_000_000));
        }
        Interop.Timespec timeout;
        timeout.Seconds = timeoutNs / 1_000_000_000;
        timeout.Nanoseconds = timeoutNs % 1_000_000_000;
        try
        {
            // Safety: as in Wait; the timespec lives on this stack frame for the duration of the call.
            fixed (EpollEvent* p = events)
            {
                long rc = Sys.Once(FaultSite.EpollWait, epfd, 0, new EpollPwait2Call(epfd, (epoll_event*)p, events.Length, &timeout));
                if (rc != -Errno.ENOSYS)
                {
                    return rc == -Errno.EINTR ? 0 : (int)rc;
                }
            }
        }
        catch (EntryPointNotFoundException)
        {
        }
        s_precise = false;
        return WaitPrecise(epfd, events, timeoutNs);
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (-1 forever, 0 poll) for ready descriptors and fills
    /// <paramref name="events"/>. Returns the count (0 on timeout or on an interrupting signal) or -errno.
    /// </summary>
    /// <remarks>
    /// EINTR is returned as 0 rather than retried: the caller's timeout has partly elapsed, and the loop
    /// recomputes it on its next turn anyway.
    /// </remarks>
    public static int Wait(int epfd, Span<EpollEvent> events, int timeoutMs)
    {
        // Safety: EpollEvent wraps exactly one epoll_event, so the span is an array of them; it stays pinned for the call.
        fixed (EpollEvent* p = events)
        {
            long rc = Sys.Once(FaultSite.EpollWait, epfd, 0, new EpollWaitCall(epfd, (epoll_event*)p, events.Length, timeoutMs));
            return rc == -Errno.EINTR ? 0 : (int)rc;
        }
    }

    private readonly struct EpollWaitCall(int epfd, epoll_event* events, int count, int timeoutMs) : ISyscall
    {
        public long Invoke(int length) => LibC.epoll_wait(epfd, events, count, timeoutMs);
    }

    private readonly struct EpollPwait2Call(int epfd, epoll_event* events, int count, Interop.Timespec* timeout) : ISyscall
    {
        public long Invoke(int length) => Interop.epoll_pwait2(epfd, events, count, timeout, null);
    }
}
