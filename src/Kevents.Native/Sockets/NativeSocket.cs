using System.Net;
using System.Net.Sockets;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// BSD socket calls. Every socket is created CLOEXEC and NONBLOCK; every call returns a value or -errno and
/// retries EINTR itself (except connect, whose EINTR means "in progress" and is reported as -EINPROGRESS).
/// </summary>
internal static unsafe partial class NativeSocket
{
    private const int MsgNoSignal = 0x4000;
    private const int SockAddrMax = 128; // sizeof(struct sockaddr_storage)

    /// <summary>Creates a socket of <paramref name="family"/> and <paramref name="type"/>. Returns 0 or -errno.</summary>
    public static int Create(AddressFamily family, SocketType type, out FileDescriptor? socket)
    {
        int domain = ToNative(family);
        int sockType = type switch
        {
            SocketType.Stream => LibC.SOCK_STREAM,
            SocketType.Dgram => LibC.SOCK_DGRAM,
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Kevents supports stream and datagram sockets."),
        };
        return FileDescriptor.FromResult(LibC.socket(domain, sockType | LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK, 0), out socket);
    }

    /// <summary>Creates a connected pair of Unix sockets (CLOEXEC, NONBLOCK). Returns 0 or -errno.</summary>
    public static int CreatePair(SocketType type, out FileDescriptor? first, out FileDescriptor? second)
    {
        int* fds = stackalloc int[2];
        int sockType = type == SocketType.Dgram ? LibC.SOCK_DGRAM : LibC.SOCK_STREAM;
        int rc = LibC.socketpair(LibC.AF_UNIX, sockType | LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK, 0, fds);
        return FileDescriptor.FromPair(rc, fds, out first, out second);
    }

    /// <summary>Binds to <paramref name="endPoint"/> (IPEndPoint or UnixDomainSocketEndPoint). Returns 0 or -errno.</summary>
    public static int Bind(int fd, EndPoint endPoint)
    {
        SocketAddress address = endPoint.Serialize();
        // Safety: SocketAddress holds the native sockaddr bytes; the buffer is pinned for the call and Size bounds it.
        fixed (byte* p = address.Buffer.Span)
        {
            return Errno.Result(LibC.bind(fd, (sockaddr*)p, (socklen_t)address.Size));
        }
    }

    /// <summary>Starts listening with <paramref name="backlog"/> pending connections. Returns 0 or -errno.</summary>
    public static int Listen(int fd, int backlog) => Errno.Result(LibC.listen(fd, backlog));

    /// <summary>
    /// Accepts one pending connection as a CLOEXEC, NONBLOCK descriptor: the new fd, or -errno (-EAGAIN when
    /// none is pending; -EMFILE/-ENFILE when descriptors ran out). The caller owns the returned descriptor.
    /// </summary>
    public static int Accept(int fd) =>
        // ECONNABORTED: the peer gave up before we accepted; Linux reports it and the next accept may succeed.
        (int)Sys.Retry(FaultSite.Accept, fd, 0, new Accept4Call(fd), alsoRetry: Errno.ECONNABORTED);

    /// <summary>
    /// Starts connecting to <paramref name="endPoint"/>: 0 when connected at once, -EINPROGRESS while pending
    /// (wait for writability, then read <see cref="GetError"/>), or another -errno.
    /// </summary>
    public static int Connect(int fd, EndPoint endPoint)
    {
        SocketAddress address = endPoint.Serialize();
        // Safety: as in Bind.
        fixed (byte* p = address.Buffer.Span)
        {
            int rc = Errno.Result(LibC.connect(fd, (sockaddr*)p, (socklen_t)address.Size));
            // A connect interrupted by a signal goes on in the background, exactly like EINPROGRESS.
            return rc == -Errno.EINTR ? -Errno.EINPROGRESS : rc;
        }
    }

    /// <summary>The pending error of a socket (SO_ERROR, cleared by reading it) as a positive errno, 0 for none, or -errno.</summary>
    public static int GetError(int fd)
    {
        int value = 0;
        socklen_t len = sizeof(int);
        int rc = LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_ERROR, &value, &len);
        return rc < 0 ? -Errno.Last() : value;
    }

    /// <summary>Sets an integer socket option. Returns 0 or -errno.</summary>
    public static int SetOption(int fd, int level, int name, int value) =>
        Errno.Result(LibC.setsockopt(fd, level, name, &value, sizeof(int)));

    /// <summary>Reads an integer socket option into <paramref name="value"/>. Returns 0 or -errno.</summary>
    public static int GetOption(int fd, int level, int name, out int value)
    {
        int v = 0;
        socklen_t len = sizeof(int);
        int rc = LibC.getsockopt(fd, level, name, &v, &len);
        value = v;
        return rc < 0 ? -Errno.Last() : 0;
    }

    /// <summary>Disables Nagle's algorithm (TCP_NODELAY). Returns 0 or -errno.</summary>
    public static int SetNoDelay(int fd, bool on) => SetOption(fd, LibC.IPPROTO_TCP, LibC.TCP_NODELAY, on ? 1 : 0);

    /// <summary>SO_REUSEADDR. Returns 0 or -errno.</summary>
    public static int SetReuseAddress(int fd, bool on) => SetOption(fd, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, on ? 1 : 0);

    /// <summary>SO_REUSEPORT: several sockets may bind the same port and share its connections. Returns 0 or -errno.</summary>
    public static int SetReusePort(int fd, bool on) => SetOption(fd, LibC.SOL_SOCKET, LibC.SO_REUSEPORT, on ? 1 : 0);

    /// <summary>IPV6_V6ONLY. Returns 0 or -errno.</summary>
    public static int SetIPv6Only(int fd, bool on) => SetOption(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, on ? 1 : 0);

    /// <summary>SO_LINGER: with <paramref name="on"/> and 0 seconds, close() sends RST instead of FIN. Returns 0 or -errno.</summary>
    public static int SetLinger(int fd, bool on, int seconds)
    {
        linger l = default;
        l.l_onoff = on ? 1 : 0;
        l.l_linger = seconds;
        return Errno.Result(LibC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_LINGER, &l, (socklen_t)sizeof(linger)));
    }

    /// <summary>
    /// Bytes the socket still holds for its peer (SIOCOUTQ): for TCP, sent or unsent bytes the peer has not
    /// acknowledged; for a Unix stream socket, the memory of what the peer has not finished reading (counted in whole
    /// kernel buffers of up to about 36 KiB, each freed only when the peer has read all of it). Returns the count or -errno.
    /// </summary>
    public static int GetUnacknowledgedBytes(int fd)
    {
        const nuint SIOCOUTQ = 0x5411; // TIOCOUTQ
        int value = 0;
        int rc = Interop.ioctl(fd, SIOCOUTQ, &value);
        return rc < 0 ? -Errno.Last() : value;
    }

    /// <summary>Shuts down the read side, the write side (sends FIN), or both. Returns 0 or -errno.</summary>
    public static int Shutdown(int fd, SocketShutdown how)
    {
        int h = how switch
        {
            SocketShutdown.Receive => LibC.SHUT_RD,
            SocketShutdown.Send => LibC.SHUT_WR,
            _ => LibC.SHUT_RDWR,
        };
        return Errno.Result(LibC.shutdown(fd, h));
    }

    /// <summary>Receives into <paramref name="buffer"/>: bytes, 0 at end of stream, or -errno.</summary>
    public static long Receive(int fd, Span<byte> buffer)
    {
        // Safety: the span is pinned for the call and bounds the kernel's write.
        fixed (byte* p = buffer)
        {
            return Sys.Retry(FaultSite.Receive, fd, buffer.Length, new RecvCall(fd, p));
        }
    }

    /// <summary>Sends from <paramref name="buffer"/> without raising SIGPIPE: bytes sent (possibly fewer), or -errno.</summary>
    public static long Send(int fd, ReadOnlySpan<byte> buffer) => Send(fd, buffer, more: false);

    /// <summary>Gather send of pinned segments without raising SIGPIPE: bytes sent (possibly fewer), or -errno.</summary>
    public static long SendVector(int fd, IoSegment* segments, int count)
    {
        msghdr msg = default;
        msg.msg_iov = (iovec*)segments;
        // A short gather send under fault injection sends fewer segments, each whole.
        return Sys.Retry(FaultSite.Send, fd, count, new SendmsgCall(fd, &msg));
    }

    /// <summary>The address a socket is bound to, or null when the call fails.</summary>
    public static EndPoint? GetLocalEndPoint(int fd) => GetName(fd, peer: false);

    /// <summary>The address of a connected socket's peer, or null when it is not connected.</summary>
    public static EndPoint? GetRemoteEndPoint(int fd) => GetName(fd, peer: true);

    private static EndPoint? GetName(int fd, bool peer)
    {
        byte* buffer = stackalloc byte[SockAddrMax];
        socklen_t len = (socklen_t)SockAddrMax;
        int rc = peer ? LibC.getpeername(fd, (sockaddr*)buffer, &len) : LibC.getsockname(fd, (sockaddr*)buffer, &len);
        if (rc < 0)
        {
            return null;
        }
        return ToEndPoint(new ReadOnlySpan<byte>(buffer, (int)(uint)len));
    }

    /// <summary>Converts native sockaddr bytes to an EndPoint (IPv4, IPv6 or Unix).</summary>
    public static EndPoint? ToEndPoint(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return null;
        }
        int family = sockaddr[0] | (sockaddr[1] << 8);
        AddressFamily af = family switch
        {
            2 => AddressFamily.InterNetwork,
            10 => AddressFamily.InterNetworkV6,
            1 => AddressFamily.Unix,
            _ => AddressFamily.Unknown,
        };
        if (af == AddressFamily.Unknown)
        {
            return null;
        }
        var address = new SocketAddress(af, Math.Max(sockaddr.Length, af == AddressFamily.Unix ? 2 : sockaddr.Length));
        sockaddr.CopyTo(address.Buffer.Span);
        address.Size = sockaddr.Length;
        if (af == AddressFamily.Unix)
        {
            return s_unixTemplate.Create(address);
        }
        return s_ipTemplate.Create(address);
    }

    private static readonly IPEndPoint s_ipTemplate = new(IPAddress.Any, 0);
    private static readonly UnixDomainSocketEndPoint s_unixTemplate = new("/");

    internal static int ToNative(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => LibC.AF_INET,
        AddressFamily.InterNetworkV6 => LibC.AF_INET6,
        AddressFamily.Unix => LibC.AF_UNIX,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Kevents supports IPv4, IPv6 and Unix sockets."),
    };

    private readonly struct Accept4Call(int fd) : ISyscall
    {
        public long Invoke(int length) => LibC.accept4(fd, null, null, LibC.SOCK_CLOEXEC | LibC.SOCK_NONBLOCK);
    }

    private readonly struct RecvCall(int fd, byte* buffer) : ISyscall
    {
        public long Invoke(int length) => LibC.recv(fd, buffer, (size_t)length, 0);
    }

    private readonly struct SendCall(int fd, byte* buffer, int flags) : ISyscall
    {
        public long Invoke(int length) => LibC.send(fd, buffer, (size_t)length, flags);
    }

    private readonly struct SendmsgCall(int fd, msghdr* msg) : ISyscall
    {
        public long Invoke(int length)
        {
            msg->msg_iovlen = length;
            return LibC.sendmsg(fd, msg, MsgNoSignal);
        }
    }
}
