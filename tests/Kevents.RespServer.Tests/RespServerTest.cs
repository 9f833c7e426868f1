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
/// alive, and nothing was logged above Information.
/// </summary>
public abstract class RespServerTest : GatedTest
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly Task _running;
    private KeyValueServer? _server;

    static RespServerTest() => RuntimeWarmUp.Sockets();

    protected RespServerTest()
    {
        Loop = new EventLoop(new EventLoopOptions { LoggerFactory = Gate.LoggerFactory, Name = GetType().Name });
        _running = Loop.RunAsync();
    }

    protected EventLoop Loop { get; }

    internal KeyValueServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected IPEndPoint EndPoint => Server.LocalEndPoint!;

    internal void StartServer(RespServerOptions? options = null, int port = 0)
    {
        ILogger logger = Gate.LoggerFactory.CreateLogger("RespServer");
        _server = OnLoop(() => KeyValueServer.Start(Loop, new IPEndPoint(IPAddress.Loopback, port), options ?? new RespServerOptions(), logger)).Result;
    }

    /// <summary>Drains and disposes the server (a test may start another on the same port afterwards).</summary>
    internal void StopServer()
    {
        if (_server is not { } server)
        {
            return;
        }
        _server = null;
        Assert.True(server.ShutdownAsync(TimeSpan.FromSeconds(2)).Wait(Limit), "the server did not drain");
        OnLoop(() =>
        {
            server.Dispose();
            return true;
        }).Wait(Limit);
    }

    protected Task<T> OnLoop<T>(Func<T> work) => Loop.InvokeAsync(work);

    protected async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(EndPoint).WaitAsync(Limit);
        return socket;
    }

    protected static Task SendAsync(Socket socket, string text) => socket.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None).WaitAsync(Limit);

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

    /// <summary>Reads until the server closes the connection; (what arrived, whether it ended in a reset).</summary>
    protected static async Task<(string Text, bool Reset)> ReceiveToEndAsync(Socket socket)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
                if (n == 0)
                {
                    return (Encoding.Latin1.GetString(all.ToArray()), false);
                }
                all.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (Encoding.Latin1.GetString(all.ToArray()), true);
        }
    }

    /// <summary>Sends <paramref name="request"/> on a fresh connection and reads until the server closes it.</summary>
    protected async Task<string> ExchangeUntilCloseAsync(string request)
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, request);
        (string text, _) = await ReceiveToEndAsync(socket);
        return text;
    }

    protected async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow + Limit;
        while (!await OnLoop(condition))
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }
            await Task.Delay(5);
        }
    }

    public override void Dispose()
    {
        StopServer();
        Loop.Stop();
        Assert.True(_running.Wait(Limit), "the loop did not stop");
        Loop.Dispose();
        base.Dispose();
    }
}
