namespace Kevents;

/// <summary>Options of <see cref="KeventFilter.Timer"/> kevents, carried in <see cref="Kevent.FilterFlags"/>.</summary>
[Flags]
public enum TimerFilterFlags : uint
{
    /// <summary>A one-shot timer.</summary>
    None = 0,
    /// <summary>Fires every interval until unregistered; a late loop gets one delivery with the expiration count.</summary>
    Periodic = 1 << 0,
}
