using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// Reads, writes and descriptor flags on any file descriptor. Every call returns a count or <c>-errno</c>,
/// retries EINTR itself, and treats EAGAIN as an ordinary result.
/// </summary>
internal static unsafe class Io
{
    /// <summary>Reads into <paramref name="buffer"/>: bytes read, 0 at end of stream, or -errno (-EAGAIN when nothing is ready).</summary>
    public static long Read(int fd, Span<byte> buffer)
    {
        // Safety: the span is pinned for the duration of the call and its length bounds the kernel's write.
        fixed (byte* p = buffer)
        {
            return Sys.Retry(FaultSite.Read, fd, buffer.Length, new ReadCall(fd, p));
        }
    }

    /// <summary>Writes from <paramref name="buffer"/>: bytes written (possibly fewer than asked), or -errno.</summary>
    public static long Write(int fd, ReadOnlySpan<byte> buffer)
    {
        // Safety: the span is pinned for the duration of the call and its length bounds the kernel's read.
        fixed (byte* p = buffer)
        {
            return Sys.Retry(FaultSite.Write, fd, buffer.Length, new WriteCall(fd, p));
        }
    }

    /// <summary>Scatter read into <paramref name="count"/> pinned segments: bytes read, 0 at end of stream, or -errno.</summary>
    /// <remarks>The caller keeps every segment pinned until the call returns.</remarks>
    public static long Readv(int fd, IoSegment* segments, int count) =>
        Sys.Retry(FaultSite.Read, fd, count, new ReadvCall(fd, segments));

    /// <summary>Gather write from <paramref name="count"/> pinned segments: bytes written (possibly fewer), or -errno.</summary>
    /// <remarks>The caller keeps every segment pinned until the call returns.</remarks>
    public static long Writev(int fd, IoSegment* segments, int count) =>
        Sys.Retry(FaultSite.Write, fd, count, new WritevCall(fd, segments));

    /// <summary>Creates a pipe whose two ends are CLOEXEC and NONBLOCK. Returns 0 or -errno.</summary>
    public static int Pipe(out FileDescriptor? readEnd, out FileDescriptor? writeEnd)
    {
        int* fds = stackalloc int[2];
        int rc = LibC.pipe2(fds, LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        return FileDescriptor.FromPair(rc, fds, out readEnd, out writeEnd);
    }

    /// <summary>True when the descriptor has FD_CLOEXEC set; false when not; throws nothing (-errno is false).</summary>
    public static bool IsCloseOnExec(int fd)
    {
        int flags = LibC.fcntl(fd, LibC.F_GETFD);
        return flags >= 0 && (flags & LibC.FD_CLOEXEC) != 0;
    }

    /// <summary>0 when <paramref name="fd"/> is open in this process, else -errno (EBADF): a check that touches nothing.</summary>
    public static int CheckOpen(int fd) => LibC.fcntl(fd, LibC.F_GETFD) < 0 ? -Errno.Last() : 0;

    /// <summary>True when the descriptor's open file is O_NONBLOCK.</summary>
    public static bool IsNonBlocking(int fd)
    {
        int flags = LibC.fcntl(fd, LibC.F_GETFL);
        return flags >= 0 && (flags & LibC.O_NONBLOCK) != 0;
    }

    /// <summary>Sets O_NONBLOCK on a descriptor Kevents did not create. Returns 0 or -errno.</summary>
    public static int SetNonBlocking(int fd)
    {
        int flags = LibC.fcntl(fd, LibC.F_GETFL);
        if (flags < 0)
        {
            return -Errno.Last();
        }
        return Errno.Result(LibC.fcntl(fd, LibC.F_SETFL, flags | LibC.O_NONBLOCK));
    }

    /// <summary>Closes a raw descriptor that no <see cref="FileDescriptor"/> owns. Returns 0 or -errno.</summary>
    public static int Close(int fd) => Errno.Result(LibC.close(fd));

    /// <summary>Bytes waiting to be read on a socket or pipe (FIONREAD), or -errno.</summary>
    public static int BytesAvailable(int fd)
    {
        int n = 0;
        // FIONREAD is 0x541B on Linux; Tmds.LibC does not name it.
        int rc = LibC.ioctl(fd, 0x541B, &n);
        return rc < 0 ? -Errno.Last() : n;
    }

    /// <summary>read(2) of <c>length</c> bytes into <paramref name="buffer"/>.</summary>
    internal readonly struct ReadCall(int fd, void* buffer) : ISyscall
    {
        public long Invoke(int length) => LibC.read(fd, buffer, (size_t)length);
    }

    /// <summary>write(2) of <c>length</c> bytes from <paramref name="buffer"/>.</summary>
    internal readonly struct WriteCall(int fd, void* buffer) : ISyscall
    {
        public long Invoke(int length) => LibC.write(fd, buffer, (size_t)length);
    }

    private readonly struct ReadvCall(int fd, IoSegment* segments) : ISyscall
    {
        public long Invoke(int length) => Interop.readv(fd, (iovec*)segments, length);
    }

    private readonly struct WritevCall(int fd, IoSegment* segments) : ISyscall
    {
        public long Invoke(int length) => Interop.writev(fd, (iovec*)segments, length);
    }
}
