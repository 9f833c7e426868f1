namespace Kevents;

/// <summary>Options of <see cref="KeventFilter.Read"/> kevents, carried in <see cref="Kevent.FilterFlags"/>.</summary>
[Flags]
public enum ReadFilterFlags : uint
{
    /// <summary>Data stays 0 on delivery: the cheapest form, enough for code that reads until EAGAIN.</summary>
    None = 0,
    /// <summary>Fill <see cref="Kevent.Data"/> with the bytes readable (one FIONREAD ioctl per delivery).</summary>
    ReportBytes = 1 << 0,
}
