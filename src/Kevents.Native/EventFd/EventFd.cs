using Tmds.Linux;

namespace Kevents.Native;

/// <summary>eventfd: a kernel counter used to wake a sleeping loop from another thread.</summary>
internal static unsafe class EventFd
{
    /// <summary>Creates a NONBLOCK, CLOEXEC eventfd with a zero counter. Returns 0 or -errno.</summary>
    public static int Create(out FileDescriptor? eventFd) =>
        FileDescriptor.FromResult(LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK), out eventFd);

    /// <summary>Adds <paramref name="value"/> to the counter, making the descriptor readable. Returns 0 or -errno.</summary>
    public static int Signal(int fd, ulong value = 1)
    {
        long rc = Sys.Retry(new Io.WriteCall(fd, &value), sizeof(ulong));
        // EAGAIN means the counter is at its maximum: the descriptor is readable, which is all a waker needs.
        return rc == -Errno.EAGAIN ? 0 : (int)Math.Min(rc, 0);
    }

    /// <summary>Reads and resets the counter: its value, or -errno (-EAGAIN when it was zero).</summary>
    public static long Drain(int fd)
    {
        ulong value;
        long rc = Sys.Retry(new Io.ReadCall(fd, &value), sizeof(ulong));
        return rc < 0 ? rc : (long)value;
    }
}
