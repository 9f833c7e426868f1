using Tmds.Linux;

namespace Kevents.Native;

/// <summary>One ready descriptor reported by <see cref="Epoll.Wait"/>; the kernel's epoll_event, laid out as the kernel wants it.</summary>
public readonly struct EpollEvent
{
#pragma warning disable CS0649 // Filled by the kernel through a pointer in Epoll.Wait.
    private readonly epoll_event _event;
#pragma warning restore CS0649

    /// <summary>The readiness bits (<see cref="EpollFlags"/>).</summary>
    public EpollFlags Events => (EpollFlags)(uint)_event.events;

    /// <summary>The 64-bit value given when the descriptor was added.</summary>
    public ulong Data => _event.data.u64;
}
