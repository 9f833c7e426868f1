using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Http;
using Kevents.Tests;

namespace Kevents.Http.Tests;

/// <summary>
/// Hosts an <see cref="HttpServer"/> on its own loop, bound to 127.0.0.1 port 0, with <see cref="TestRoutes"/> (or a
/// test's own handler), and holds every test to the leak gate: after the server drains and the loop is disposed the
/// fd count is back to its baseline, no pooled buffer or connection is left, and nothing was logged above Information.
/// </summary>
public abstract class HttpTest : GatedTest
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly Task _running;
    private HttpServer? _server;

    static HttpTest() => RuntimeWarmUp.Sockets();

    protected HttpTest()
    {
        Loop = new EventLoop(new EventLoopOptions { LoggerFactory = Gate.LoggerFactory, Name = GetType().Name });
        _running = Loop.RunAsync();
    }

    protected EventLoop Loop { get; }

    internal HttpServer Server => _server ?? throw new InvalidOperationException("Call StartServer first.");

    protected IPEndPoint EndPoint => (IPEndPoint)Server.LocalEndPoint;

    protected Uri BaseUri => new($"http://127.0.0.1:{EndPoint.Port}/");

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

    protected Task<T> OnLoop<T>(Func<T> work) => Loop.InvokeAsync(work);

    protected static HttpClient NewClient(int maxConnections = 16) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = maxConnections,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        Expect100ContinueTimeout = TimeSpan.FromSeconds(15),
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

    /// <summary>Reads until <paramref name="count"/> responses ending in <paramref name="marker"/> have arrived.</summary>
    protected static async Task<string> ReceiveUntilAsync(Socket socket, string marker, int count = 1)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[64 * 1024];
        while (CountOf(text.ToString(), marker) < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            Assert.True(n > 0, $"closed after: {text}");
            text.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }
        return text.ToString();
    }

    protected static int CountOf(string text, string marker)
    {
        int count = 0;
        for (int at = text.IndexOf(marker, StringComparison.Ordinal); at >= 0; at = text.IndexOf(marker, at + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
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
