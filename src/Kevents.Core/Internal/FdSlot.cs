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
}
