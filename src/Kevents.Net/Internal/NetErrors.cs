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
        new($"Connection {id} failed: {Errno.Describe(negativeErrno)}.", -negativeErrno);

    public static string Describe(EndPoint endPoint) => endPoint switch
    {
        UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? "?",
    };
}
