namespace Kevents;

/// <summary>
/// Requests (when registering) and results (when delivered). The same bit means the same thing on every filter,
/// as in kqueue.
/// </summary>
[Flags]
public enum KeventFlags : ushort
{
    /// <summary>No flags: a level-triggered, enabled registration.</summary>
    None = 0,
    /// <summary>Add the event (implied by <see cref="EventLoop.Register(in Kevent, KeventHandler)"/>).</summary>
    Add = 1 << 0,
    /// <summary>Remove the event; registering a kevent with this flag is the same as unregistering it.</summary>
    Delete = 1 << 1,
    /// <summary>Deliver the event (the default for new registrations).</summary>
    Enable = 1 << 2,
    /// <summary>Keep the registration but deliver nothing until it is enabled again.</summary>
    Disable = 1 << 3,
    /// <summary>Deliver once, then remove the registration.</summary>
    Oneshot = 1 << 4,
    /// <summary>Edge-triggered: deliver when the state changes, not while it lasts. Consumers must drain to EAGAIN.</summary>
    Clear = 1 << 5,
    /// <summary>Deliver once, then disable the registration until <see cref="EventLoop.Enable(ulong, KeventFilter)"/>.</summary>
    Dispatch = 1 << 6,
    /// <summary>Result: end of file. The peer closed (Read) or the descriptor hung up (Write).</summary>
    Eof = 1 << 13,
    /// <summary>Result: an error occurred; <see cref="Kevent.Data"/> holds -errno.</summary>
    Error = 1 << 14,
}
