using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents;

/// <summary>
/// errno values. Kevents returns <c>-errno</c> on failure where a failure is an ordinary outcome of I/O (EAGAIN,
/// ECONNRESET, ENOENT and the like), not an exceptional one: compare such a result with <c>-Errno.EAGAIN</c>, and
/// turn one into text for a log line with <see cref="Describe"/>.
/// </summary>
public static class Errno
{
    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;
    /// <summary>No such file or directory.</summary>
    public const int ENOENT = 2;
    /// <summary>Interrupted system call; wrappers retry it themselves.</summary>
    public const int EINTR = 4;
    /// <summary>Input/output error.</summary>
    public const int EIO = 5;
    /// <summary>No such device or address (also: opening a FIFO for writing that no one reads).</summary>
    public const int ENXIO = 6;
    /// <summary>Bad file descriptor.</summary>
    public const int EBADF = 9;
    /// <summary>Resource temporarily unavailable (would block).</summary>
    public const int EAGAIN = 11;
    /// <summary>Out of memory.</summary>
    public const int ENOMEM = 12;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>Bad address.</summary>
    public const int EFAULT = 14;
    /// <summary>Device or resource busy (io_uring_enter: reap completions before submitting more).</summary>
    public const int EBUSY = 16;
    /// <summary>File exists (also: fd already registered with epoll).</summary>
    public const int EEXIST = 17;
    /// <summary>Invalid cross-device link (openat2 RESOLVE_BENEATH: the path would leave the directory).</summary>
    public const int EXDEV = 18;
    /// <summary>Not a directory.</summary>
    public const int ENOTDIR = 20;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>Too many open files in the system.</summary>
    public const int ENFILE = 23;
    /// <summary>Too many open files in this process.</summary>
    public const int EMFILE = 24;
    /// <summary>No space left on device (also: epoll_ctl past fs.epoll.max_user_watches).</summary>
    public const int ENOSPC = 28;
    /// <summary>Illegal seek: an offset given for a pipe or FIFO.</summary>
    public const int ESPIPE = 29;
    /// <summary>Broken pipe.</summary>
    public const int EPIPE = 32;
    /// <summary>File name too long.</summary>
    public const int ENAMETOOLONG = 36;
    /// <summary>Function not implemented.</summary>
    public const int ENOSYS = 38;
    /// <summary>Timer expired (io_uring_enter's wait ran out of time).</summary>
    public const int ETIME = 62;
    /// <summary>Too many levels of symbolic links (openat2: a magic link, or O_NOFOLLOW met a link).</summary>
    public const int ELOOP = 40;
    /// <summary>Machine is not on the network.</summary>
    public const int ENONET = 64;
    /// <summary>Protocol error.</summary>
    public const int EPROTO = 71;
    /// <summary>Destination address required (a datagram without one on an unconnected socket).</summary>
    public const int EDESTADDRREQ = 89;
    /// <summary>Message too long (datagram larger than the buffer or the path MTU).</summary>
    public const int EMSGSIZE = 90;
    /// <summary>Protocol not available.</summary>
    public const int ENOPROTOOPT = 92;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Address family not supported by protocol.</summary>
    public const int EAFNOSUPPORT = 97;
    /// <summary>Address already in use.</summary>
    public const int EADDRINUSE = 98;
    /// <summary>Cannot assign requested address.</summary>
    public const int EADDRNOTAVAIL = 99;
    /// <summary>Network is down.</summary>
    public const int ENETDOWN = 100;
    /// <summary>Network is unreachable.</summary>
    public const int ENETUNREACH = 101;
    /// <summary>Software caused connection abort.</summary>
    public const int ECONNABORTED = 103;
    /// <summary>Connection reset by peer.</summary>
    public const int ECONNRESET = 104;
    /// <summary>No buffer space available.</summary>
    public const int ENOBUFS = 105;
    /// <summary>Transport endpoint is not connected.</summary>
    public const int ENOTCONN = 107;
    /// <summary>Connection timed out.</summary>
    public const int ETIMEDOUT = 110;
    /// <summary>Connection refused.</summary>
    public const int ECONNREFUSED = 111;
    /// <summary>Host is down.</summary>
    public const int EHOSTDOWN = 112;
    /// <summary>Host is unreachable.</summary>
    public const int EHOSTUNREACH = 113;
    /// <summary>Operation already in progress.</summary>
    public const int EALREADY = 114;
    /// <summary>Operation now in progress (non-blocking connect).</summary>
    public const int EINPROGRESS = 115;
    /// <summary>Operation canceled.</summary>
    public const int ECANCELED = 125;

    /// <summary>The errno of the last native call made by this thread through Kevents.Native.</summary>
    /// <remarks>Read it immediately after the call: any other P/Invoke may overwrite it.</remarks>
    internal static int Last() => Marshal.GetLastPInvokeError();

    /// <summary>The C library's text for <paramref name="errno"/> (a positive value), e.g. "Bad file descriptor".</summary>
    internal static string Message(int errno) => Marshal.GetPInvokeErrorMessage(Math.Abs(errno));

    /// <summary>The symbolic name and text of an errno, e.g. "EBADF (Bad file descriptor)".</summary>
    public static string Describe(int errno)
    {
        errno = Math.Abs(errno);
        string? name = Name(errno);
        return name is null ? $"errno {errno} ({Message(errno)})" : $"{name} ({Message(errno)})";
    }

    /// <summary>The symbolic name of a common errno, or null for one Kevents does not name.</summary>
    internal static string? Name(int errno) => Math.Abs(errno) switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EXDEV => "EXDEV",
        ENOTDIR => "ENOTDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOSPC => "ENOSPC",
        ESPIPE => "ESPIPE",
        EPIPE => "EPIPE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOSYS => "ENOSYS",
        ETIME => "ETIME",
        ELOOP => "ELOOP",
        ENONET => "ENONET",
        EPROTO => "EPROTO",
        EDESTADDRREQ => "EDESTADDRREQ",
        EMSGSIZE => "EMSGSIZE",
        ENOPROTOOPT => "ENOPROTOOPT",
        EOPNOTSUPP => "EOPNOTSUPP",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENETDOWN => "ENETDOWN",
        ENETUNREACH => "ENETUNREACH",
        ECONNABORTED => "ECONNABORTED",
        ECONNRESET => "ECONNRESET",
        ENOBUFS => "ENOBUFS",
        ENOTCONN => "ENOTCONN",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        EHOSTDOWN => "EHOSTDOWN",
        EHOSTUNREACH => "EHOSTUNREACH",
        EALREADY => "EALREADY",
        EINPROGRESS => "EINPROGRESS",
        ECANCELED => "ECANCELED",
        _ => null,
    };

    /// <summary>Turns a raw C return value (-1 plus errno) into Kevents' convention: the value, or -errno.</summary>
    internal static int Result(int rc) => rc >= 0 ? rc : -Last();

    /// <summary>Turns a raw ssize_t return value into the value, or -errno.</summary>
    internal static long Result(ssize_t rc) => (long)rc >= 0 ? (long)rc : -Last();
}
