using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

// The operations an event loop needs when the ring is its poller: polls that stay armed, their removal, and one
// io_uring_enter per loop turn that both submits what the turn prepared and waits, with a nanosecond timeout.
internal sealed unsafe partial class IoUringRing
{
    /// <summary>
    /// Prepares a poll of <paramref name="fd"/> for <paramref name="events"/>; with <paramref name="multishot"/> it stays
    /// armed and completes once per wake-up, each completion but the last flagged <see cref="IoUringAbi.CqeMore"/>.
    /// The result is the ready <see cref="EpollFlags"/> bits, or -errno. False when the submission queue is full.
    /// </summary>
    public bool PreparePollAdd(int fd, EpollFlags events, ulong userData, bool multishot)
    {
        SqeView* sqe = (SqeView*)NextEntry(IoUringOpcode.PollAdd, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->OpFlags = (uint)events;
        sqe->Len = multishot ? IoUringAbi.PollAddMulti : 0;
        return true;
    }

    /// <summary>
    /// Prepares a multishot receive on the socket <paramref name="fd"/> into buffers the kernel picks from
    /// <paramref name="bufferGroup"/> (IORING_RECV_MULTISHOT with IOSQE_BUFFER_SELECT, Linux 6.0): one completion per
    /// chunk received, its result the byte count (0 at the end of the stream, -errno on failure) and its flags naming the
    /// buffer; the last one lacks <see cref="IoUringAbi.CqeMore"/>. False when the submission queue is full.
    /// </summary>
    public bool PrepareRecvMultishot(int fd, ushort bufferGroup, ulong userData)
    {
        SqeView* sqe = (SqeView*)NextEntry(IoUringOpcode.Recv, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->Flags = IoUringAbi.SqeBufferSelect;
        sqe->IoPrio = IoUringAbi.RecvMultishot;
        sqe->BufGroup = bufferGroup;
        return true;
    }

    /// <summary>
    /// What epoll_ctl would answer for watching <paramref name="fd"/>, asked before a poll request is prepared (whose own
    /// failure would come back only in its completion, too late for the caller): 0, -EBADF for a closed descriptor, or
    /// -EPERM for a regular file or directory, which epoll refuses and a poll would report ready forever. Fault plans
    /// reach it through <see cref="FaultSite.EpollControl"/>, the same site as epoll's refusals.
    /// </summary>
    public static int CheckPollable(int fd)
    {
        if (FaultInjection.Fails(FaultSite.EpollControl, fd, out int fault))
        {
            return -fault;
        }
        uint mode = 0;
        long rc = Sys.Retry(new StatModeCall(fd, &mode));
        if (rc < 0)
        {
            return (int)rc;
        }
        uint type = mode & (uint)LibC.S_IFMT;
        return type == (uint)LibC.S_IFREG || type == (uint)LibC.S_IFDIR ? -Errno.EPERM : 0;
    }

    private readonly struct StatModeCall(int fd, uint* mode) : ISyscall
    {
        public long Invoke(int length)
        {
            stat st;
            int rc = LibC.fstat(fd, &st);
            *mode = rc == 0 ? (uint)st.st_mode : 0;
            return rc;
        }
    }

    /// <summary>
    /// Prepares the removal of the pending poll whose user data is <paramref name="targetUserData"/>. The poll then
    /// completes with -ECANCELED (unless it already completed); this request completes with 0 or -ENOENT. False when the
    /// submission queue is full.
    /// </summary>
    public bool PreparePollRemove(ulong targetUserData, ulong userData)
    {
        SqeView* sqe = (SqeView*)NextEntry(IoUringOpcode.PollRemove, -1, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->Addr = targetUserData;
        return true;
    }

    /// <summary>
    /// True when the kernel has completions waiting for this thread to enter the ring (a ring set up with
    /// <see cref="IoUringSetupOptions.CooperativeTaskRun"/>); <see cref="SubmitAndWait"/> with 0 then runs them.
    /// </summary>
    public bool HasTaskWork => !_disposed && (Volatile.Read(ref *_sqFlags) & IoUringAbi.SqTaskRun) != 0;

    /// <summary>
    /// One io_uring_enter that submits every prepared entry and then, unless <paramref name="timeoutNs"/> is 0, waits
    /// for at least one completion or until <paramref name="timeoutNs"/> has passed (-1: no limit). Needs
    /// <see cref="IoUringFeatures.ExtendedArgument"/>. Returns the number of entries submitted, or -errno: -ETIME when
    /// the time ran out, -EINTR when a signal interrupted the wait (not retried: the loop's turn is the retry), -EBUSY
    /// or -EAGAIN when the kernel wants completions reaped first (the entries stay queued).
    /// </summary>
    public int SubmitAndWait(long timeoutNs)
    {
        if (_disposed)
        {
            return -Errno.EBADF;
        }
        Volatile.Write(ref *_sqTail, _sqTailLocal);
        uint toSubmit = _sqTailLocal - Volatile.Read(ref *_sqHead);
        if (timeoutNs == 0)
        {
            bool getEvents = HasOverflow || HasTaskWork;
            if (toSubmit == 0 && !getEvents)
            {
                return 0;
            }
            uint flags = getEvents ? IoUringAbi.EnterGetEvents : 0;
            return (int)Sys.Once(FaultSite.IoUringSubmit, _ring.Fd, 0, new WaitCall(_ring.Fd, toSubmit, 0, flags, null));
        }
        GeteventsArg arg = default;
        Interop.Timespec ts = default;
        if (timeoutNs > 0)
        {
            ts.Seconds = timeoutNs / 1_000_000_000;
            ts.Nanoseconds = timeoutNs % 1_000_000_000;
            // Safety: ts lives on this frame for the whole call; the kernel reads it during the call only.
            arg.Ts = (ulong)&ts;
        }
        return (int)Sys.Once(FaultSite.IoUringSubmit, _ring.Fd, 0,
            new WaitCall(_ring.Fd, toSubmit, 1, IoUringAbi.EnterGetEvents | IoUringAbi.EnterExtArg, &arg));
    }

    /// <summary>io_uring_enter(2) with its sixth argument, which Tmds.LibC's binding does not pass: the size of the extended argument.</summary>
    private readonly struct WaitCall(int ringFd, uint toSubmit, uint minComplete, uint flags, GeteventsArg* arg) : ISyscall
    {
        public long Invoke(int length) => Interop.syscall(IoUringAbi.SysIoUringEnter, ringFd, toSubmit, minComplete, flags,
            (long)arg, arg == null ? 0 : sizeof(GeteventsArg));
    }

    /// <summary>struct io_uring_getevents_arg.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct GeteventsArg
    {
        public ulong Sigmask;
        public uint SigmaskSize;
        public uint MinWaitUsec;
        public ulong Ts;
    }

    /// <summary>
    /// The fields of struct io_uring_sqe this file writes, at their kernel offsets, so poll entries do not depend on how
    /// Tmds.LibC names the unions.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct SqeView
    {
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(40)] public ushort BufGroup;
        [FieldOffset(16)] public ulong Addr;
        [FieldOffset(24)] public uint Len;
        [FieldOffset(28)] public uint OpFlags;
    }
}
