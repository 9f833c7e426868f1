using System.Net;
using Kevents.Http;
using Kevents.Tests;

namespace Kevents.Http.Tests;

/// <summary>
/// Hosts an <see cref="HttpServer"/> on its own loop, bound to 127.0.0.1 port 0, with <see cref="TestRoutes"/> (or a
/// test's own handler), and holds every test to the leak gate: after the server drains and the loop is disposed the
/// fd count is back to its baseline, no pooled buffer or connection is left, and nothing was logged above Information.
/// The loop, the socket helpers and the teardown are <see cref="HttpServerTest"/>'s.
/// </summary>
public abstract class HttpTest : HttpServerTest
{
    private HttpServer? _server;

    internal HttpServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected override IPEndPoint EndPoint => (IPEndPoint)Server.LocalEndPoint;

    protected bool AllowErrors
    {
        set => Gate.AllowWarnings = value;
    }

    internal void StartServer(Action<HttpServerOptions>? configure = null, HttpHandler? handler = null)
    {
        var options = new HttpServerOptions();
        configure?.Invoke(options);
        _server = OnLoop(() => Loop.ListenHttp(new IPEndPoint(IPAddress.Loopback, 0), handler ?? TestRoutes.Handle, options)).Result;
    }

    protected override void StopServer()
    {
        if (_server is { } server)
        {
            DrainAndDispose(timeout => server.ShutdownAsync(timeout), server);
        }
    }
}
