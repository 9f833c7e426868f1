using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// errno values and helpers. Native wrappers in Kevents return <c>-errno</c> on failure instead of throwing:
/// EAGAIN, ECONNRESET and the like are ordinary outcomes of I/O, not exceptional ones.
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
    /// <summary>Bad file descriptor.</summary>
    public const int EBADF = 9;
    /// <summary>Resource temporarily unavailable (would block).</summary>
    public const int EAGAIN = 11;
    /// <summary>Out of memory.</summary>
    public const int ENOMEM = 12;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>File exists (also: fd already registered with epoll).</summary>
    public const int EEXIST = 17;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>Too many open files in the system.</summary>
    public const int ENFILE = 23;
    /// <summary>Too many open files in this process.</summary>
    public const int EMFILE = 24;
    /// <summary>Broken pipe.</summary>
    public const int EPIPE = 32;
    /// <summary>Function not implemented.</summary>
    public const int ENOSYS = 38;
    /// <summary>File name too long.</summary>
    public const int ENAMETOOLONG = 36;
    /// <summary>Message too long (datagram larger than the buffer or the path MTU).</summary>
    public const int EMSGSIZE = 90;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Address already in use.</summary>
    public const int EADDRINUSE = 98;
    /// <summary>Cannot assign requested address.</summary>
    public const int EADDRNOTAVAIL = 99;
    /// <summary>Network is unreachable.</summary>
    public const int ENETUNREACH = 101;
    /// <summary>Software caused connection abort.</summary>
    public const int ECONNABORTED = 103;
    /// <summary>Connection reset by peer.</summary>
    public const int ECONNRESET = 104;
    /// <summary>Transport endpoint is not connected.</summary>
    public const int ENOTCONN = 107;
    /// <summary>Connection timed out.</summary>
    public const int ETIMEDOUT = 110;
    /// <summary>Connection refused.</summary>
    public const int ECONNREFUSED = 111;
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
    public static int Last() => Marshal.GetLastPInvokeError();

    /// <summary>The C library's text for <paramref name="errno"/> (a positive value), e.g. "Bad file descriptor".</summary>
    public static string Message(int errno) => Marshal.GetPInvokeErrorMessage(Math.Abs(errno));

    /// <summary>The symbolic name and text of an errno, e.g. "EBADF (Bad file descriptor)".</summary>
    public static string Describe(int errno)
    {
        errno = Math.Abs(errno);
        string? name = Name(errno);
        return name is null ? $"errno {errno} ({Message(errno)})" : $"{name} ({Message(errno)})";
    }

    /// <summary>The symbolic name of a common errno, or null for one Kevents does not name.</summary>
    public static string? Name(int errno) => Math.Abs(errno) switch
    {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        EINTR => "EINTR",
        EIO => "EIO",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EEXIST => "EEXIST",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        EPIPE => "EPIPE",
        ENOSYS => "ENOSYS",
        ENAMETOOLONG => "ENAMETOOLONG",
        EMSGSIZE => "EMSGSIZE",
        EOPNOTSUPP => "EOPNOTSUPP",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENETUNREACH => "ENETUNREACH",
        ECONNABORTED => "ECONNABORTED",
        ECONNRESET => "ECONNRESET",
        ENOTCONN => "ENOTCONN",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
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
