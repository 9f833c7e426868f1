namespace Kevents.Internal;

/// <summary>One filter (Read or Write) of a registered file descriptor.</summary>
internal struct FdSlot
{
    public KeventHandler? Handler;
    public ulong UserData;
    public KeventFlags Flags;
    public uint FilterFlags;
    /// <summary>Changes on every registration, so a readiness collected for an older registration is never delivered to a newer one.</summary>
    public int Epoch;
    public bool Registered;
    public bool Enabled;

    public readonly bool Active => Registered && Enabled;

    public readonly bool IsClear => (Flags & KeventFlags.Clear) != 0;
}

/// <summary>The loop's view of one file descriptor: both filters and what epoll currently watches.</summary>
internal struct FdEntry
{
    public FdSlot Read;
    public FdSlot Write;
    /// <summary>The interest epoll holds for this fd; None when the fd is not in the epoll set.</summary>
    public Kevents.Native.EpollFlags Interest;
    /// <summary>In the epoll set; on the io_uring backend, a poll for <see cref="Interest"/> is armed in the ring.</summary>
    public bool InEpoll;
    /// <summary>io_uring backend: the generation of the armed poll, in its user data, so a completion of an older poll is ignored.</summary>
    public uint PollGeneration;
    /// <summary>io_uring backend: the fd is on the list of polls to re-arm after this turn's dispatch.</summary>
    public bool RearmQueued;
    /// <summary>io_uring backend: what <see cref="Recv"/> tracks is the listener's multishot accept, not a receive (EventLoop.IoUring.Accept.cs).</summary>
    public bool RecvIsAccept;
    /// <summary>io_uring backend: the generation of the fd's multishot receive.</summary>
    public uint RecvGeneration;
    /// <summary>io_uring backend: the fd's multishot receive (see EventLoop.IoUring.Receive.cs).</summary>
    public RecvState Recv;
}

/// <summary>Where an fd's multishot receive on the io_uring backend stands.</summary>
internal enum RecvState : byte
{
    /// <summary>None in the ring.</summary>
    Idle,
    /// <summary>Armed: its completions carry the bytes received.</summary>
    Armed,
    /// <summary>Cancelled (reading paused or stopped), its last completion not seen yet; no new one until it is.</summary>
    Cancelling,
}
