using System.Net;
using Kevents.Net;

namespace Kevents.Http;

/// <summary>Starts HTTP/1.1 servers on a loop.</summary>
public static class EventLoopHttpExtensions
{
    /// <summary>
    /// Listens for HTTP/1.1 on <paramref name="endPoint"/> and answers each request with <paramref name="handler"/>,
    /// on this loop's thread. Call on the loop thread or before the loop runs.
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public static HttpServer ListenHttp(this EventLoop loop, IPEndPoint endPoint, HttpHandler handler, HttpServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(handler);
        options ??= new HttpServerOptions();
        options.Validate();
        var server = new HttpServer(loop, handler, options);
        SocketServer socketServer = loop.ListenTcp(endPoint, server.StreamHandlerForSocket, options.Socket);
        server.Attach(socketServer);
        HttpLog.Listening(server.Logger, socketServer.LocalEndPoint.ToString() ?? "?");
        return server;
    }
}
