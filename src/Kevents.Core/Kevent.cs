using System.Runtime.InteropServices;

namespace Kevents;

/// <summary>
/// One event record: what it is about (<see cref="Ident"/>, <see cref="Filter"/>), how to deliver it
/// (<see cref="Flags"/>, <see cref="FilterFlags"/>) and what happened (<see cref="Data"/>). Thirty-two bytes,
/// modelled on kqueue's <c>struct kevent</c>. Identity is (Ident, Filter) per loop.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct Kevent
{
    /// <summary>Creates a kevent with every field given.</summary>
    public Kevent(ulong ident, KeventFilter filter, KeventFlags flags = KeventFlags.None, uint filterFlags = 0, long data = 0, ulong userData = 0)
    {
        Ident = ident;
        Filter = filter;
        Flags = flags;
        FilterFlags = filterFlags;
        Data = data;
        UserData = userData;
    }

    /// <summary>What the event is about: a file descriptor, timer id, user event id, signal number or operation id.</summary>
    public ulong Ident { get; }

    /// <summary>The kind of event.</summary>
    public KeventFilter Filter { get; }

    /// <summary>Delivery requests when registering; <see cref="KeventFlags.Eof"/> and <see cref="KeventFlags.Error"/> when delivered.</summary>
    public KeventFlags Flags { get; }

    /// <summary>Filter-specific options (<see cref="TimerFilterFlags"/>, <see cref="ReadFilterFlags"/>).</summary>
    public uint FilterFlags { get; }

    /// <summary>
    /// Filter-specific value: a timer's interval in nanoseconds when registering; when delivered, bytes readable,
    /// timer expirations, a completion's result, or -errno with <see cref="KeventFlags.Error"/>.
    /// </summary>
    public long Data { get; }

    /// <summary>The caller's token, returned untouched with every delivery.</summary>
    public ulong UserData { get; }

    /// <summary>True when <see cref="Flags"/> has <see cref="KeventFlags.Eof"/>.</summary>
    public bool IsEof => (Flags & KeventFlags.Eof) != 0;

    /// <summary>True when <see cref="Flags"/> has <see cref="KeventFlags.Error"/>; <see cref="Data"/> holds -errno.</summary>
    public bool IsError => (Flags & KeventFlags.Error) != 0;

    /// <summary>Readability of <paramref name="fd"/>, level-triggered unless <paramref name="flags"/> say otherwise.</summary>
    public static Kevent Read(int fd, ulong userData = 0, KeventFlags flags = KeventFlags.None) =>
        new((ulong)CheckFd(fd), KeventFilter.Read, flags, 0, 0, userData);

    /// <summary>Writability of <paramref name="fd"/>, level-triggered unless <paramref name="flags"/> say otherwise.</summary>
    public static Kevent Write(int fd, ulong userData = 0, KeventFlags flags = KeventFlags.None) =>
        new((ulong)CheckFd(fd), KeventFilter.Write, flags, 0, 0, userData);

    /// <summary>
    /// A one-shot timer named <paramref name="ident"/> that expires once, after <paramref name="interval"/> (rounded
    /// up to the next millisecond). It never fires early.
    /// </summary>
    public static Kevent Timer(ulong ident, TimeSpan interval, ulong userData = 0) => Timer(ident, interval, periodic: false, userData);

    /// <summary>
    /// A periodic timer named <paramref name="ident"/> that expires every <paramref name="interval"/> (at least 1 ms)
    /// until it is unregistered. It never fires early; a loop held past several expirations gets one delivery whose
    /// <see cref="Data"/> counts them, not a burst.
    /// </summary>
    public static Kevent PeriodicTimer(ulong ident, TimeSpan interval, ulong userData = 0) => Timer(ident, interval, periodic: true, userData);

    /// <summary>
    /// A timer named <paramref name="ident"/> that expires after <paramref name="interval"/> (rounded up to the
    /// next millisecond), once or every interval. It never fires early. <see cref="Timer(ulong, TimeSpan, ulong)"/>
    /// and <see cref="PeriodicTimer"/> say which at the call site.
    /// </summary>
    public static Kevent Timer(ulong ident, TimeSpan interval, bool periodic, ulong userData = 0)
    {
        if (interval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "A timer interval cannot be negative.");
        }
        if (periodic && interval < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "A periodic timer needs an interval of at least 1 ms.");
        }
        long nanos = interval.Ticks > long.MaxValue / 100 ? long.MaxValue : interval.Ticks * 100;
        return new(ident, KeventFilter.Timer, periodic ? KeventFlags.None : KeventFlags.Oneshot,
            periodic ? (uint)TimerFilterFlags.Periodic : 0, nanos, userData);
    }

    /// <summary>A user event named <paramref name="ident"/>, delivered after <see cref="EventLoop.Trigger(ulong)"/>.</summary>
    public static Kevent User(ulong ident, ulong userData = 0, KeventFlags flags = KeventFlags.Clear) =>
        new(ident, KeventFilter.User, flags, 0, 0, userData);

    /// <summary>Arrival of POSIX signal <paramref name="signo"/>, by name from <see cref="Signals"/> (e.g. <c>Signals.SIGTERM</c>).</summary>
    /// <remarks>
    /// While registered, the signal's default action (such as terminating the process) is suppressed and each arrival
    /// is delivered as a kevent instead. The registration ends when its handler is removed: by
    /// <see cref="EventLoop.Unregister(ulong, KeventFilter)"/>, after the one delivery of a
    /// <see cref="KeventFlags.Oneshot"/> registration, or when the loop is disposed. From then on the default action
    /// is back, so a second SIGTERM terminates the process. <see cref="EventLoop.Register(in Kevent, KeventHandler)"/>
    /// checks the number too, so a kevent built by hand with an ident outside 1-64 is refused as well.
    /// </remarks>
    public static Kevent Signal(int signo, ulong userData = 0)
    {
        if (signo <= 0 || signo > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(signo), signo, "Signal numbers run from 1 to 64.");
        }
        return new((ulong)signo, KeventFilter.Signal, KeventFlags.None, 0, 0, userData);
    }

    /// <summary>A copy with other <see cref="Flags"/>.</summary>
    public Kevent WithFlags(KeventFlags flags) => new(Ident, Filter, flags, FilterFlags, Data, UserData);

    /// <summary>A copy with other <see cref="Data"/>.</summary>
    public Kevent WithData(long data) => new(Ident, Filter, Flags, FilterFlags, data, UserData);

    /// <summary>A readable form for logs: "Read ident=7 flags=Eof data=0 udata=0x2a".</summary>
    public override string ToString() =>
        $"{Filter} ident={Ident} flags={Flags} fflags=0x{FilterFlags:x} data={Data} udata=0x{UserData:x}";

    private static int CheckFd(int fd) =>
        fd >= 0 ? fd : throw new ArgumentOutOfRangeException(nameof(fd), fd, "A file descriptor is never negative; was it closed?");
}
