namespace Kevents.Native;

/// <summary>
/// io_uring ABI values that Tmds.LibC 0.5.0 does not define (include/uapi/linux/io_uring.h). The ones it does define
/// are used from <c>Tmds.Linux.LibC</c> directly.
/// </summary>
internal static class IoUringAbi
{
    /// <summary>IORING_SETUP_SUBMIT_ALL (5.18): keep submitting the batch after an entry fails.</summary>
    public const uint SetupSubmitAll = 1u << 7;

    /// <summary>IORING_SETUP_COOP_TASKRUN (5.19): finish completions when the task next enters the ring, without interrupting it.</summary>
    public const uint SetupCoopTaskRun = 1u << 8;

    /// <summary>IORING_SETUP_TASKRUN_FLAG (5.19): with COOP_TASKRUN, set <see cref="SqTaskRun"/> while such work waits.</summary>
    public const uint SetupTaskRunFlag = 1u << 9;

    /// <summary>IORING_SQ_TASKRUN: in the SQ ring flags, completions wait for the task to enter the ring.</summary>
    public const uint SqTaskRun = 1u << 2;

    /// <summary>IORING_SQ_CQ_OVERFLOW: in the SQ ring flags, set while the kernel holds completions the CQ had no room for.</summary>
    public const uint SqCqOverflow = 1u << 1;

    /// <summary>IORING_POLL_ADD_MULTI (5.13), in a poll entry's len: the poll stays armed and posts a completion per wake-up.</summary>
    public const uint PollAddMulti = 1u << 0;

    /// <summary>IORING_CQE_F_MORE (5.13): more completions will follow for this request (a multishot one is still armed).</summary>
    public const uint CqeMore = 1u << 1;

    /// <summary>IORING_CQE_F_BUFFER: the completion's flags name, in their top 16 bits, the provided buffer it filled.</summary>
    public const uint CqeBuffer = 1u << 0;

    /// <summary>IOSQE_BUFFER_SELECT: in an entry's flags, the kernel picks the buffer from the entry's buffer group.</summary>
    public const byte SqeBufferSelect = 1 << 5;

    /// <summary>IORING_RECV_MULTISHOT (6.0), in a receive entry's ioprio: the receive stays armed.</summary>
    public const ushort RecvMultishot = 1 << 1;

    /// <summary>IORING_ACCEPT_MULTISHOT (5.19), in an accept entry's ioprio: the accept stays armed, one completion per connection.</summary>
    public const ushort AcceptMultishot = 1 << 0;

    /// <summary>IORING_ENTER_GETEVENTS: io_uring_enter waits for min_complete completions.</summary>
    public const uint EnterGetEvents = 1u << 0;

    /// <summary>IORING_ENTER_EXT_ARG (5.11): the argument is a struct io_uring_getevents_arg with a timeout.</summary>
    public const uint EnterExtArg = 1u << 3;

    /// <summary>The system call number of io_uring_enter, the same on every architecture (the unified table since 5.1).</summary>
    public const long SysIoUringEnter = 426;

    /// <summary>Entries in an io_uring_probe: one per possible 8-bit opcode.</summary>
    public const int ProbeOps = 256;
}
