using System.Net;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>UDP sockets on the loop: bound to a local address, or connected to one peer.</summary>
public static class EventLoopUdpExtensions
{
    /// <summary>
    /// Binds a UDP socket to <paramref name="endPoint"/> (port 0: the kernel picks one; read it from
    /// <see cref="UdpSocket.LocalEndPoint"/>) and delivers every datagram that arrives to <paramref name="handler"/>,
    /// on the loop thread. Loop thread only (or before the loop runs).
    /// </summary>
    /// <exception cref="SocketException">The address cannot be bound; the message names it (e.g. "address already in use").</exception>
    public static UdpSocket BindUdp(this EventLoop loop, IPEndPoint endPoint, IDatagramHandler handler, UdpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return Open(loop, endPoint, remote: null, handler, options);
    }

    /// <summary>
    /// Creates a UDP socket connected to <paramref name="remote"/>: <see cref="UdpSocket.Send"/> without an address
    /// goes there, only its datagrams are received, and an ICMP port unreachable from it is reported to
    /// <see cref="IDatagramHandler.OnError"/> as ECONNREFUSED. UDP has no handshake, so this returns at once and
    /// succeeds even when nothing listens at <paramref name="remote"/>. Loop thread only (or before the loop runs).
    /// </summary>
    /// <param name="loop">The loop.</param>
    /// <param name="remote">The peer.</param>
    /// <param name="handler">Receives datagrams and errors.</param>
    /// <param name="options">Buffer sizes and limits; null for the defaults.</param>
    /// <param name="localEndPoint">A local address to bind first; null lets the kernel choose.</param>
    /// <exception cref="SocketException">The socket cannot be bound or connected (e.g. the network is unreachable).</exception>
    public static UdpSocket ConnectUdp(this EventLoop loop, IPEndPoint remote, IDatagramHandler handler, UdpOptions? options = null,
        IPEndPoint? localEndPoint = null)
    {
        ArgumentNullException.ThrowIfNull(remote);
        if (localEndPoint is not null && localEndPoint.AddressFamily != remote.AddressFamily)
        {
            throw new ArgumentException($"The local address {localEndPoint} and the remote {remote} are of different families.", nameof(localEndPoint));
        }
        return Open(loop, localEndPoint, remote, handler, options);
    }

    /// <summary>
    /// Puts an existing datagram socket on the loop (one inherited through socket activation, a Unix datagram
    /// socketpair, a socket configured with options Kevents does not expose). The returned socket owns
    /// <paramref name="socket"/> and closes it on dispose. A connected socket behaves as one made by ConnectUdp.
    /// Loop thread only (or before the loop runs).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="socket"/> is closed or not a datagram socket.</exception>
    public static UdpSocket AdoptDatagramSocket(this EventLoop loop, FileDescriptor socket, IDatagramHandler handler, UdpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(handler);
        if (socket.IsClosed || !NativeSocket.IsDatagramSocket(socket.Fd))
        {
            throw new ArgumentException($"Only an open datagram socket can be adopted; {socket} is not one.", nameof(socket));
        }
        UdpOptions settings = (options ?? new UdpOptions()).Validate();
        loop.VerifyAccess(nameof(AdoptDatagramSocket));
        Configure(socket.Fd, settings);
        bool connected = NativeSocket.HasPeer(socket.Fd);
        return new UdpSocket(loop, socket, handler, settings, connected, connected ? NativeSocket.GetRemoteEndPoint(socket.Fd) : null);
    }

    private static UdpSocket Open(EventLoop loop, IPEndPoint? local, IPEndPoint? remote, IDatagramHandler handler, UdpOptions? options)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(handler);
        UdpOptions settings = (options ?? new UdpOptions()).Validate();
        loop.VerifyAccess(remote is null ? "BindUdp" : "ConnectUdp");
        EndPoint target = (EndPoint?)local ?? remote!;
        int rc = NativeSocket.Create(target.AddressFamily, SocketType.Dgram, out FileDescriptor? socket);
        if (rc < 0)
        {
            throw NetErrors.ToSocketException(rc, $"Cannot create a UDP socket for {NetErrors.Describe(target)}");
        }
        try
        {
            Configure(socket!.Fd, settings);
            if (local is not null)
            {
                rc = NativeSocket.Bind(socket.Fd, local);
                if (rc == -Errno.EADDRINUSE)
                {
                    throw NetErrors.ToSocketException(rc, $"Cannot bind UDP {NetErrors.Describe(local)}: address already in use (another socket holds it; stop it or choose another port)");
                }
                if (rc < 0)
                {
                    throw NetErrors.ToSocketException(rc, $"Cannot bind UDP {NetErrors.Describe(local)}");
                }
            }
            if (remote is not null)
            {
                // A UDP connect only records the peer and picks a route: it completes at once or fails at once.
                rc = NativeSocket.Connect(socket.Fd, remote);
                if (rc < 0)
                {
                    throw NetErrors.ToSocketException(rc, $"Cannot connect UDP to {NetErrors.Describe(remote)}");
                }
            }
            return new UdpSocket(loop, socket, handler, settings, connected: remote is not null, remote);
        }
        catch
        {
            socket!.Dispose();
            throw;
        }
    }

    private static void Configure(int fd, UdpOptions options)
    {
        // These are tuning: a kernel that refuses one (a sysctl cap on buffers) leaves a working socket behind.
        if (options.ReuseAddress)
        {
            NativeSocket.SetReuseAddress(fd, true);
        }
        if (options.ReusePort)
        {
            NativeSocket.SetReusePort(fd, true);
        }
        if (options.SocketReceiveBufferSize > 0)
        {
            NativeSocket.SetReceiveBufferSize(fd, options.SocketReceiveBufferSize);
        }
        if (options.SocketSendBufferSize > 0)
        {
            NativeSocket.SetSendBufferSize(fd, options.SocketSendBufferSize);
        }
    }
}
