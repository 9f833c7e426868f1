using System.Net;
using Kevents.Net;

namespace Kevents.Http;

/// <summary>Starts HTTP/1.1 servers on a loop group.</summary>
public static class EventLoopGroupHttpExtensions
{
    /// <summary>
    /// Listens for HTTP/1.1 on <paramref name="endPoint"/> with every loop of <paramref name="group"/>; each loop
    /// runs its own <see cref="HttpServer"/> (no state shared between loops) calling <paramref name="handler"/>.
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentException">A distribution the group cannot do; the message says what it needs.</exception>
    public static HttpServerGroup ListenHttp(this EventLoopGroup group, IPEndPoint endPoint, HttpHandler handler,
        HttpServerOptions? options = null, LoopDistribution distribution = LoopDistribution.ReusePort)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(handler);
        return group.ListenHttp(endPoint, _ => handler, options, distribution);
    }

    /// <summary>
    /// Listens for HTTP/1.1 on <paramref name="endPoint"/> with every loop of <paramref name="group"/>, with a handler
    /// made for each loop by <paramref name="handlerFactory"/> (for state kept per loop, never shared between them).
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentException">A distribution the group cannot do; the message says what it needs.</exception>
    public static HttpServerGroup ListenHttp(this EventLoopGroup group, IPEndPoint endPoint, Func<EventLoop, HttpHandler> handlerFactory,
        HttpServerOptions? options = null, LoopDistribution distribution = LoopDistribution.ReusePort)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(handlerFactory);
        options ??= new HttpServerOptions();
        options.Validate();
        var servers = new HttpServer[group.Loops.Count];
        SocketServerGroup sockets = group.ListenTcp(endPoint, loop =>
        {
            HttpHandler handler = handlerFactory(loop) ?? throw new InvalidOperationException("The handler factory returned null.");
            var server = new HttpServer(loop, handler, options);
            servers[group.IndexOf(loop)] = server;
            return server.StreamHandlerForSocket;
        }, options.Socket, distribution);
        for (int i = 0; i < servers.Length; i++)
        {
            servers[i].Attach(sockets.Servers[i]);
        }
        return new HttpServerGroup(sockets, servers);
    }
}
