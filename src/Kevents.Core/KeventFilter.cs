namespace Kevents;

/// <summary>Which kind of event a <see cref="Kevent"/> is about. Together with <see cref="Kevent.Ident"/> it names the event.</summary>
public enum KeventFilter : short
{
    /// <summary>No filter; never registered.</summary>
    None = 0,
    /// <summary>A file descriptor is readable. Ident is the fd; Data is 0 unless the filter asked for the byte count.</summary>
    Read = 1,
    /// <summary>A file descriptor is writable. Ident is the fd.</summary>
    Write = 2,
    /// <summary>A timer expired. Ident is the caller's timer id; Data is the number of expirations since the last delivery.</summary>
    Timer = 3,
    /// <summary>A user event was triggered with <see cref="EventLoop.Trigger(ulong)"/>. Ident is the caller's id.</summary>
    User = 4,
    /// <summary>A POSIX signal arrived. Ident is the signal number; Data counts arrivals since the last delivery.</summary>
    Signal = 5,
    /// <summary>An asynchronous file operation completed. Ident is the operation id; Data is the result or -errno.</summary>
    Aio = 6,
    /// <summary>A threadlet that left the loop finished. Ident is the threadlet id; Data is its result or -errno.</summary>
    Threadlet = 7,
}

/// <summary>Facts about <see cref="KeventFilter"/> that arrays indexed by filter depend on.</summary>
internal static class KeventFilters
{
    /// <summary>
    /// How many filters there are: one past the highest value, since the values run from 0 without gaps. Every array
    /// indexed by filter has this length; a test checks it against the enum, so a new filter cannot be left out.
    /// </summary>
    internal const int Count = (int)KeventFilter.Threadlet + 1;
}
