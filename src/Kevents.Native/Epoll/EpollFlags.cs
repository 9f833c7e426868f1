namespace Kevents.Native;

/// <summary>epoll interest and readiness bits.</summary>
[Flags]
internal enum EpollFlags : uint
{
    /// <summary>No bits.</summary>
    None = 0,
    /// <summary>Readable (EPOLLIN).</summary>
    In = 0x001,
    /// <summary>Urgent data (EPOLLPRI).</summary>
    Pri = 0x002,
    /// <summary>Writable (EPOLLOUT).</summary>
    Out = 0x004,
    /// <summary>Error condition; always reported (EPOLLERR).</summary>
    Err = 0x008,
    /// <summary>Hang-up; always reported (EPOLLHUP).</summary>
    Hup = 0x010,
    /// <summary>Peer closed its write side (EPOLLRDHUP).</summary>
    RdHup = 0x2000,
    /// <summary>Wake one of several epoll instances waiting on the same descriptor (EPOLLEXCLUSIVE).</summary>
    Exclusive = 1u << 28,
    /// <summary>Disable after one event (EPOLLONESHOT).</summary>
    OneShot = 1u << 30,
    /// <summary>Edge-triggered (EPOLLET).</summary>
    EdgeTriggered = 1u << 31,
}
