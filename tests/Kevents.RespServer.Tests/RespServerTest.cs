using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Tests;
using Microsoft.Extensions.Logging;
using RespServer;

namespace Kevents.RespServer.Tests;

/// <summary>
/// Hosts a <see cref="KeyValueServer"/> on its own loop bound to 127.0.0.1 port 0, and holds every test to the leak
/// gate: after the server drains and the loop is disposed, descriptors are back at their baseline, no connection is
/// alive, and nothing was logged above Information. The loop, the socket helpers and the teardown are
/// <see cref="ServerTest"/>'s; clients here turn Nagle off, as Redis clients do.
/// </summary>
public abstract class RespServerTest : ServerTest
{
    private KeyValueServer? _server;

    internal KeyValueServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected override IPEndPoint EndPoint => Server.LocalEndPoint!;

    protected override bool ClientNoDelay => true;

    internal void StartServer(RespServerOptions? options = null, int port = 0)
    {
        ILogger logger = Gate.LoggerFactory.CreateLogger("RespServer");
        _server = OnLoop(() => KeyValueServer.Start(Loop, new IPEndPoint(IPAddress.Loopback, port), options ?? new RespServerOptions(), logger)).Result;
    }

    /// <summary>Drains and disposes the server (a test may start another on the same port afterwards).</summary>
    protected override void StopServer()
    {
        if (_server is not { } server)
        {
            return;
        }
        _server = null;
        DrainAndDispose(timeout => server.ShutdownAsync(timeout), server);
    }

    /// <summary>Reads until <paramref name="expected"/> bytes arrived (or the peer closed); returns them as Latin-1.</summary>
    protected static async Task<string> ReceiveAsync(Socket socket, int expected)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        while (all.Length < expected)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            if (n == 0)
            {
                break;
            }
            all.Write(buffer, 0, n);
        }
        return Encoding.Latin1.GetString(all.ToArray());
    }

    /// <summary>Reads until the server closes the connection; (what arrived as Latin-1, whether it ended in a reset).</summary>
    protected static async Task<(string Text, bool Reset)> ReceiveTextToEndAsync(Socket socket)
    {
        (byte[] bytes, bool reset) = await ReceiveUntilClosedAsync(socket);
        return (Encoding.Latin1.GetString(bytes), reset);
    }

    /// <summary>Sends <paramref name="request"/> on a fresh connection and reads until the server closes it.</summary>
    protected async Task<string> ExchangeUntilCloseAsync(string request) => Encoding.Latin1.GetString(await RawExchangeAsync(request));
}
