using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Tmds.Linux;

namespace Kevents.Native;

internal static unsafe partial class NativeSocket
{
    /// <summary>
    /// Receives up to <see cref="DatagramBatch.Capacity"/> datagrams in one recvmmsg call without blocking: the number
    /// received (then read them from <paramref name="batch"/>), or -errno (-EAGAIN when none is waiting). Each
    /// datagram longer than <see cref="DatagramBatch.SlotSize"/> is cut to fit and marked truncated.
    /// </summary>
    /// <remarks>
    /// When an error occurs after some datagrams were received, the kernel returns those and reports the error on the
    /// next call. On a connected UDP socket an ICMP port-unreachable arrives here as -ECONNREFUSED.
    /// </remarks>
    /// <param name="fd">A datagram socket.</param>
    /// <param name="batch">Cleared, then filled with what arrived.</param>
    /// <param name="withAddresses">Record each sender's address (unneeded on a connected socket).</param>
    public static int ReceiveBatch(int fd, DatagramBatch batch, bool withAddresses)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.PrepareReceive(withAddresses);
        // Safety: the headers and everything they point at are pinned for the batch's lifetime, and Capacity bounds how
        // many the kernel fills. MSG_DONTWAIT keeps a blocking socket from stalling the loop.
        int rc = (int)Sys.Retry(new RecvmmsgCall(fd, batch.PendingHeaders), batch.Capacity);
        if (rc >= 0)
        {
            batch.CompleteReceive(rc);
        }
        return rc;
    }

    /// <summary>
    /// Sends the datagrams queued in <paramref name="batch"/>, oldest first, in one sendmmsg call (MSG_NOSIGNAL):
    /// the number sent, which are removed from the batch, or -errno for the oldest one, which stays queued (remove
    /// it with <see cref="DatagramBatch.RemoveFirst"/> to move past it). -EAGAIN when the socket buffer is full.
    /// </summary>
    public static int SendBatch(int fd, DatagramBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int pending = batch.Count;
        if (pending == 0)
        {
            return 0;
        }
        // Safety: as in ReceiveBatch; Count bounds the entries the kernel reads, all set up by TryAdd.
        int rc = (int)Sys.Retry(new SendmmsgCall(fd, batch.PendingHeaders), pending);
        if (rc >= 0)
        {
            batch.RemoveFirst(rc);
        }
        return rc;
    }

    /// <summary>
    /// Sends one datagram to <paramref name="destination"/> (null: the connected peer) without raising SIGPIPE or
    /// blocking: bytes sent, or -errno (-EAGAIN when the socket buffer is full; -EDESTADDRREQ without a destination
    /// on an unconnected socket). Allocates nothing for an <see cref="IPEndPoint"/>.
    /// </summary>
    /// <param name="fd">A datagram socket.</param>
    /// <param name="data">The datagram.</param>
    /// <param name="destination">Where to send it, or null for the connected peer.</param>
    /// <param name="mapToIPv6">Send to an IPv4 destination as an IPv4-mapped IPv6 address (for a dual-stack IPv6 socket).</param>
    public static long SendTo(int fd, ReadOnlySpan<byte> data, EndPoint? destination, bool mapToIPv6 = false)
    {
        byte* address = stackalloc byte[SockAddrMax];
        int length = 0;
        if (destination is not null)
        {
            length = WriteAddress(destination, new Span<byte>(address, SockAddrMax), mapToIPv6);
            if (length < 0)
            {
                return length;
            }
        }
        // Safety: the span is pinned for the call and bounds the kernel's read; the address is on this stack frame.
        fixed (byte* p = data)
        {
            return Sys.Retry(new SendtoCall(fd, p, length == 0 ? null : address, length), data.Length);
        }
    }

    /// <summary>
    /// Writes <paramref name="endPoint"/> as a native sockaddr into <paramref name="destination"/> (at least 128 bytes):
    /// its length, or -EAFNOSUPPORT. IPv4 and IPv6 endpoints are encoded by hand, so this allocates nothing for them.
    /// </summary>
    public static int WriteAddress(EndPoint endPoint, Span<byte> destination, bool mapToIPv6 = false)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint is IPEndPoint ip)
        {
            AddressFamily family = ip.AddressFamily;
            if (family == AddressFamily.InterNetwork && !mapToIPv6)
            {
                // struct sockaddr_in: family (host order), port (network order), 4 address bytes, 8 bytes of zero.
                destination[..16].Clear();
                BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)LibC.AF_INET);
                BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)ip.Port);
                ip.Address.TryWriteBytes(destination.Slice(4, 4), out _);
                return 16;
            }
            if (family == AddressFamily.InterNetwork || family == AddressFamily.InterNetworkV6)
            {
                // struct sockaddr_in6: family, port, flow info, 16 address bytes, scope id.
                destination[..28].Clear();
                BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)LibC.AF_INET6);
                BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)ip.Port);
                if (family == AddressFamily.InterNetwork)
                {
                    // ::ffff:a.b.c.d reaches an IPv4 peer through a dual-stack IPv6 socket.
                    destination[18] = 0xff;
                    destination[19] = 0xff;
                    ip.Address.TryWriteBytes(destination.Slice(20, 4), out _);
                }
                else
                {
                    ip.Address.TryWriteBytes(destination.Slice(8, 16), out _);
                    BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], (uint)ip.Address.ScopeId);
                }
                return 28;
            }
            return -Errno.EAFNOSUPPORT;
        }
        // Other endpoints (a Unix datagram path) are rare here: let the runtime serialize them.
        SocketAddress serialized = endPoint.Serialize();
        if (serialized.Size > destination.Length)
        {
            return -Errno.EAFNOSUPPORT;
        }
        serialized.Buffer.Span[..serialized.Size].CopyTo(destination);
        return serialized.Size;
    }

    /// <summary>SO_RCVBUF: the kernel's receive buffer (it doubles the value for bookkeeping). Returns 0 or -errno.</summary>
    public static int SetReceiveBufferSize(int fd, int bytes) => SetOption(fd, LibC.SOL_SOCKET, LibC.SO_RCVBUF, bytes);

    /// <summary>SO_SNDBUF: the kernel's send buffer (it doubles the value for bookkeeping). Returns 0 or -errno.</summary>
    public static int SetSendBufferSize(int fd, int bytes) => SetOption(fd, LibC.SOL_SOCKET, LibC.SO_SNDBUF, bytes);

    /// <summary>True when <paramref name="fd"/> is a datagram socket (SO_TYPE is SOCK_DGRAM).</summary>
    public static bool IsDatagramSocket(int fd) => GetOption(fd, LibC.SOL_SOCKET, LibC.SO_TYPE, out int type) == 0 && type == LibC.SOCK_DGRAM;

    /// <summary>True when the socket is connected to a peer (getpeername succeeds), even an unnamed Unix one.</summary>
    public static bool HasPeer(int fd)
    {
        byte* buffer = stackalloc byte[SockAddrMax];
        socklen_t len = (socklen_t)SockAddrMax;
        // Safety: the buffer is on this stack frame and len tells the kernel its size.
        return LibC.getpeername(fd, (sockaddr*)buffer, &len) == 0;
    }

    private readonly struct RecvmmsgCall(int fd, mmsghdr* headers) : ISyscall
    {
        public long Invoke(int length) => Interop.recvmmsg(fd, headers, (uint)length, LibC.MSG_DONTWAIT, null);
    }

    private readonly struct SendmmsgCall(int fd, mmsghdr* headers) : ISyscall
    {
        public long Invoke(int length) => Interop.sendmmsg(fd, headers, (uint)length, MsgNoSignal | LibC.MSG_DONTWAIT);
    }

    private readonly struct SendtoCall(int fd, byte* data, byte* address, int addressLength) : ISyscall
    {
        public long Invoke(int length) => LibC.sendto(fd, data, (size_t)length, MsgNoSignal | LibC.MSG_DONTWAIT,
            (sockaddr*)address, (socklen_t)addressLength);
    }
}
