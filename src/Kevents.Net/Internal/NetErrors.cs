using System.Net;
using System.Net.Sockets;
using Kevents.Native;

namespace Kevents.Net.Internal;

/// <summary>Turns -errno values from socket calls into the exceptions .NET code expects, with messages that help.</summary>
internal static class NetErrors
{
    public static SocketException ToSocketException(int negativeErrno, string context)
    {
        int errno = -negativeErrno;
        SocketError code = errno switch
        {
            Errno.ECONNREFUSED => SocketError.ConnectionRefused,
            Errno.ECONNRESET => SocketError.ConnectionReset,
            Errno.ETIMEDOUT => SocketError.TimedOut,
            Errno.EADDRINUSE => SocketError.AddressAlreadyInUse,
            Errno.EADDRNOTAVAIL => SocketError.AddressNotAvailable,
            Errno.ENETUNREACH => SocketError.NetworkUnreachable,
            Errno.EHOSTUNREACH => SocketError.HostUnreachable,
            Errno.EACCES or Errno.EPERM => SocketError.AccessDenied,
            Errno.EMFILE or Errno.ENFILE => SocketError.TooManyOpenSockets,
            Errno.ECONNABORTED => SocketError.ConnectionAborted,
            Errno.ENOTCONN => SocketError.NotConnected,
            Errno.ECANCELED => SocketError.OperationAborted,
            Errno.EINVAL => SocketError.InvalidArgument,
            _ => SocketError.SocketError,
        };
        return new SocketException((int)code, $"{context}: {Errno.Describe(errno)}");
    }

    public static ConnectionResetException Reset(long id, int negativeErrno) =>
        new($"Connection {id} failed: {Errno.Describe(negativeErrno)}.", negativeErrno);

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="endPoint"/> is an address a socket can use as it is
    /// (IPv4, IPv6 or a Unix path): a host name must be resolved first, and the message says how.
    /// </summary>
    public static void CheckConnectable(EndPoint endPoint, string paramName, string operation)
    {
        ArgumentNullException.ThrowIfNull(endPoint, paramName);
        if (endPoint is IPEndPoint or UnixDomainSocketEndPoint)
        {
            return;
        }
        if (endPoint is DnsEndPoint dns)
        {
            throw new ArgumentException(
                $"{operation} needs an IP address, but {dns.Host}:{dns.Port} is a host name (DnsEndPoint). Resolve it first, e.g. with Dns.GetHostAddressesAsync(\"{dns.Host}\"), and pass an IPEndPoint.",
                paramName);
        }
        throw new ArgumentException(
            $"{operation} supports IPEndPoint and UnixDomainSocketEndPoint, not {endPoint.GetType().Name}.", paramName);
    }

    public static string Describe(EndPoint endPoint) => endPoint switch
    {
        UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? "?",
    };
}
