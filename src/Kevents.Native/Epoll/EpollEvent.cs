using Tmds.Linux;

namespace Kevents.Native;

/// <summary>One ready descriptor reported by <see cref="Epoll.Wait"/>; the kernel's epoll_event, laid out as the kernel wants it.</summary>
internal readonly struct EpollEvent
{
    private readonly epoll_event _event;

    /// <summary>Builds an event as epoll_wait would report it (for tests and benchmarks that feed a dispatcher directly).</summary>
    public EpollEvent(EpollFlags events, ulong data)
    {
        _event.events = (int)events;
        _event.data.u64 = data;
    }

    /// <summary>The readiness bits (<see cref="EpollFlags"/>).</summary>
    public EpollFlags Events => (EpollFlags)(uint)_event.events;

    /// <summary>The 64-bit value given when the descriptor was added.</summary>
    public ulong Data => _event.data.u64;
}
