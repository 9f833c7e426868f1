namespace Kevents.Native;

/// <summary>Options for <see cref="IoUringRing.Create"/>.</summary>
internal sealed class IoUringSetupOptions
{
    /// <summary>
    /// The environment variable that switches io_uring off for the whole process: when it is set to <c>0</c>,
    /// <see cref="IoUringRing.Create"/> returns -EPERM, as it would under a seccomp profile that forbids io_uring.
    /// </summary>
    public const string DisableEnvironmentVariable = "KEVENTS_IO_URING";

    /// <summary>
    /// Completion queue entries to ask for (rounded up to a power of two by the kernel; it must not be smaller than the
    /// submission queue). 0, the default, lets the kernel choose twice the submission queue size.
    /// </summary>
    public uint CompletionQueueSize { get; init; }

    /// <summary>
    /// Whether the ring signals an eventfd when it posts completions (for a ring another poller watches). Default true.
    /// A ring that is itself the loop's poller waits in io_uring_enter and needs none.
    /// </summary>
    public bool CompletionEventFd { get; init; } = true;

    /// <summary>
    /// Ask for IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG (5.19): completions are finished when the owner
    /// thread next enters the ring instead of interrupting it wherever it runs, and the SQ flags say when such work is
    /// waiting (<see cref="IoUringRing.HasTaskWork"/>). For a ring whose one thread enters it every turn; kernels
    /// without it get a ring without it. Default false.
    /// </summary>
    public bool CooperativeTaskRun { get; init; }
}
