using System.Net;
using Kevents.Net;

namespace Kevents.Http;

/// <summary>An HTTP server spread over an <see cref="EventLoopGroup"/>: one <see cref="HttpServer"/> per loop behind one listener.</summary>
public sealed class HttpServerGroup : IDisposable
{
    private readonly SocketServerGroup _sockets;

    internal HttpServerGroup(SocketServerGroup sockets, HttpServer[] servers)
    {
        _sockets = sockets;
        Servers = servers;
    }

    /// <summary>One server per loop, in the group's loop order.</summary>
    public IReadOnlyList<HttpServer> Servers { get; }

    /// <summary>The address the group listens on.</summary>
    public EndPoint LocalEndPoint => _sockets.LocalEndPoint;

    /// <summary>Connections accepted by each loop (a snapshot; any thread).</summary>
    public long[] AcceptedCounts() => _sockets.AcceptedCounts();

    /// <summary>Connections accepted by all loops.</summary>
    public long TotalAccepted => _sockets.TotalAccepted;

    /// <summary>Stops accepting on every loop and drains each loop's server as <see cref="HttpServer.ShutdownAsync"/> does. Any thread.</summary>
    public async Task ShutdownAsync(TimeSpan? drainTimeout = null)
    {
        await Task.Run(_sockets.StopAccepting).ConfigureAwait(false);
        await Task.WhenAll(Servers.Select(s => s.ShutdownAsync(drainTimeout))).ConfigureAwait(false);
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public void Dispose() => _sockets.Dispose();
}
