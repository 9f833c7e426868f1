using System.Net;

namespace Kevents.Net;

/// <summary>TCP listeners spread over the loops of an <see cref="EventLoopGroup"/>.</summary>
public static class EventLoopGroupNetExtensions
{
    /// <summary>
    /// Listens on <paramref name="endPoint"/> on every loop of <paramref name="group"/> and runs
    /// <paramref name="application"/> for every connection, on the thread of the loop that serves it. Safe from any
    /// thread, before or after <see cref="EventLoopGroup.Start"/>; returns once every loop listens.
    /// </summary>
    /// <param name="group">The loops that serve connections.</param>
    /// <param name="endPoint">Where to listen; port 0 picks one free port for the whole group.</param>
    /// <param name="application">Runs once per connection, as with a single loop's ListenTcp.</param>
    /// <param name="options">Settings of each loop's server (limits are per loop). Default: <see cref="ServerOptions"/>'s.</param>
    /// <param name="distribution">How connections are spread over the loops. Default <see cref="LoopDistribution.ReusePort"/>.</param>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentException"><see cref="LoopDistribution.ReusePortCpu"/> on a group that does not have one
    /// pinned loop per CPU; the message says what it needs.</exception>
    public static SocketServerGroup ListenTcp(this EventLoopGroup group, IPEndPoint endPoint, Func<PipeConnection, Task> application,
        ServerOptions? options = null, LoopDistribution distribution = LoopDistribution.ReusePort)
    {
        ArgumentNullException.ThrowIfNull(application);
        return SocketServerGroup.Create(group, endPoint, options, distribution, application, null);
    }

    /// <summary>
    /// Listens on <paramref name="endPoint"/> on every loop of <paramref name="group"/> with the low-level API:
    /// <paramref name="handler"/> gets each connection's bytes on the thread of the loop that serves it. One handler
    /// instance serves every loop, so it must keep per-connection state in <see cref="StreamConnection.State"/>, not in
    /// its own fields. Otherwise as the overload with pipes.
    /// </summary>
    /// <param name="group">The loops that serve connections.</param>
    /// <param name="endPoint">Where to listen; port 0 picks one free port for the whole group.</param>
    /// <param name="handler">Receives every connection's events.</param>
    /// <param name="options">Settings of each loop's server (limits are per loop). Default: <see cref="ServerOptions"/>'s.</param>
    /// <param name="distribution">How connections are spread over the loops. Default <see cref="LoopDistribution.ReusePort"/>.</param>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentException"><see cref="LoopDistribution.ReusePortCpu"/> on a group that does not have one
    /// pinned loop per CPU; the message says what it needs.</exception>
    public static SocketServerGroup ListenTcp(this EventLoopGroup group, IPEndPoint endPoint, IStreamHandler handler,
        ServerOptions? options = null, LoopDistribution distribution = LoopDistribution.ReusePort)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return SocketServerGroup.Create(group, endPoint, options, distribution, null, _ => handler);
    }

    /// <summary>
    /// Listens on <paramref name="endPoint"/> on every loop of <paramref name="group"/> with the low-level API and one
    /// handler per loop: <paramref name="handlerFactory"/> is called once for each loop, on that loop's thread (or
    /// before the group starts), and its handler serves only that loop's connections. This is the share-nothing shape:
    /// state a handler keeps for its loop (buffers, caches, counters) needs no locks. Otherwise as the other overloads.
    /// </summary>
    /// <param name="group">The loops that serve connections.</param>
    /// <param name="endPoint">Where to listen; port 0 picks one free port for the whole group.</param>
    /// <param name="handlerFactory">Creates the handler of one loop; must not return null.</param>
    /// <param name="options">Settings of each loop's server (limits are per loop). Default: <see cref="ServerOptions"/>'s.</param>
    /// <param name="distribution">How connections are spread over the loops. Default <see cref="LoopDistribution.ReusePort"/>.</param>
    /// <exception cref="System.Net.Sockets.SocketException">The address cannot be bound; the message names it.</exception>
    /// <exception cref="ArgumentException"><see cref="LoopDistribution.ReusePortCpu"/> on a group that does not have one
    /// pinned loop per CPU; the message says what it needs.</exception>
    public static SocketServerGroup ListenTcp(this EventLoopGroup group, IPEndPoint endPoint, Func<EventLoop, IStreamHandler> handlerFactory,
        ServerOptions? options = null, LoopDistribution distribution = LoopDistribution.ReusePort)
    {
        ArgumentNullException.ThrowIfNull(handlerFactory);
        return SocketServerGroup.Create(group, endPoint, options, distribution, null, handlerFactory);
    }
}
