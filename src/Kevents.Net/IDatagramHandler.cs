using System.Net;

namespace Kevents.Net;

/// <summary>
/// Receives what happens on a <see cref="UdpSocket"/>. Every method runs on the loop thread, one datagram at a time,
/// in the order the kernel delivered them.
/// </summary>
public interface IDatagramHandler
{
    /// <summary>
    /// A datagram arrived. <paramref name="data"/> points into a buffer the socket reuses for the next batch: copy what
    /// must outlive the call. <paramref name="remote"/> is the sender (the peer, on a connected socket); the same
    /// sender twice in a row yields the same instance, so keeping or comparing it costs nothing.
    /// <paramref name="truncated"/> means the datagram was longer than <see cref="UdpOptions.MaxDatagramSize"/> and only
    /// its start is in <paramref name="data"/>; the rest is lost.
    /// </summary>
    void OnDatagram(UdpSocket socket, ReadOnlySpan<byte> data, EndPoint? remote, bool truncated);

    /// <summary>
    /// A socket error: for instance ECONNREFUSED when a connected socket's peer answered with ICMP port unreachable, or
    /// the failure of one send (EMSGSIZE, EHOSTUNREACH). UDP errors concern single datagrams, so the socket stays open;
    /// dispose it to stop. May run from inside <see cref="UdpSocket.Send"/>, reporting that send's failure. The default
    /// ignores the error.
    /// </summary>
    /// <param name="socket">The socket the error concerns.</param>
    /// <param name="error">The negative errno, as <see cref="Kevent.Data"/> carries it (compare with
    /// <c>-Errno.ECONNREFUSED</c>).</param>
    void OnError(UdpSocket socket, int error)
    {
    }
}
