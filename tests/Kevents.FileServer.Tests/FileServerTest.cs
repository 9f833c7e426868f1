using System.Net;
using System.Net.Sockets;
using System.Text;
using FileServer;
using Kevents.Tests;
using Microsoft.Extensions.Logging;

namespace Kevents.FileServer.Tests;

/// <summary>
/// Hosts a <see cref="StaticFileServer"/> on its own loop over a shared temporary site, bound to 127.0.0.1 port 0,
/// and holds every test to the fd gate: after the server drains and the loop is disposed the process's descriptor
/// count is back where the test found it, and nothing was logged above Information.
/// </summary>
public abstract class FileServerTest : GatedTest
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly Task _running;
    private StaticFileServer? _server;

    static FileServerTest()
    {
        RuntimeWarmUp.Sockets();
        Site = TestSite.Create();
    }

    protected FileServerTest()
    {
        Loop = new EventLoop(new EventLoopOptions { LoggerFactory = Gate.LoggerFactory, Name = GetType().Name });
        _running = Loop.RunAsync();
    }

    internal static TestSite Site { get; }

    protected EventLoop Loop { get; }

    protected CapturingLoggerProvider Logs => Gate.Logs;

    internal StaticFileServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected Uri BaseUri => new($"http://127.0.0.1:{Server.LocalEndPoint.Port}/");

    protected IPEndPoint EndPoint => Server.LocalEndPoint;

    internal void StartServer(Action<FileServerOptions>? configure = null)
    {
        var options = new FileServerOptions { Root = Site.Root };
        configure?.Invoke(options);
        ILogger logger = Gate.LoggerFactory.CreateLogger("FileServer");
        _server = OnLoop(() => StaticFileServer.Start(Loop, new IPEndPoint(IPAddress.Loopback, 0), options, logger)).Result;
    }

    protected Task<T> OnLoop<T>(Func<T> work) => Loop.InvokeAsync(work);

    protected static HttpClient NewClient(int maxConnections = 16) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = maxConnections,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Limit,
    };

    protected async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(EndPoint).WaitAsync(Limit);
        return socket;
    }

    /// <summary>Sends <paramref name="request"/> on a fresh connection and reads until the server closes it.</summary>
    protected async Task<byte[]> RawExchangeAsync(string request)
    {
        using Socket socket = await ConnectAsync();
        await socket.SendAsync(Encoding.Latin1.GetBytes(request));
        return await ReceiveToEndAsync(socket);
    }

    protected static async Task<byte[]> ReceiveToEndAsync(Socket socket)
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
                    break;
                }
                all.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
        return all.ToArray();
    }

    protected static int StatusOf(byte[] response)
    {
        string text = Encoding.Latin1.GetString(response, 0, Math.Min(response.Length, 64));
        Assert.StartsWith("HTTP/1.1 ", text);
        return int.Parse(text.AsSpan(9, 3));
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
        if (_server is { } server)
        {
            Assert.True(server.ShutdownAsync(TimeSpan.FromSeconds(2)).Wait(Limit), "the server did not drain");
            OnLoop(() =>
            {
                server.Dispose();
                return true;
            }).Wait(Limit);
        }
        Loop.Stop();
        Assert.True(_running.Wait(Limit), "the loop did not stop");
        Loop.Dispose();
        base.Dispose();
    }
}
