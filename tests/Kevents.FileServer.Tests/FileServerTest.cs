using System.Net;
using FileServer;
using Kevents.Tests;
using Microsoft.Extensions.Logging;

namespace Kevents.FileServer.Tests;

/// <summary>
/// Hosts a <see cref="StaticFileServer"/> on its own loop over a shared temporary site, bound to 127.0.0.1 port 0,
/// and holds every test to the fd gate: after the server drains and the loop is disposed the process's descriptor
/// count is back where the test found it, and nothing was logged above Information. The loop, the socket helpers and
/// the teardown are <see cref="HttpServerTest"/>'s.
/// </summary>
public abstract class FileServerTest : HttpServerTest
{
    private StaticFileServer? _server;

    static FileServerTest() => Site = TestSite.Create();

    internal static TestSite Site { get; }

    protected CapturingLoggerProvider Logs => Gate.Logs;

    internal StaticFileServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected override IPEndPoint EndPoint => Server.LocalEndPoint;

    internal void StartServer(Action<FileServerOptions>? configure = null)
    {
        var options = new FileServerOptions { Root = Site.Root };
        configure?.Invoke(options);
        ILogger logger = Gate.LoggerFactory.CreateLogger("FileServer");
        _server = OnLoop(() => StaticFileServer.Start(Loop, new IPEndPoint(IPAddress.Loopback, 0), options, logger)).Result;
    }

    protected override void StopServer()
    {
        if (_server is { } server)
        {
            DrainAndDispose(timeout => server.ShutdownAsync(timeout), server);
        }
    }
}
